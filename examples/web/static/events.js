// The event stream: GET /api/v1/events as a WebSocket on the page's origin, authenticated by
// the session cookie (the server accepts it only from its own origin). Each event is one JSON
// text frame with a `cursor`. After a dropped connection the stream reconnects with
// `?since=<last cursor>` and the server delivers exactly the events missed, once and in
// order, then live ones: nothing to reload, nothing twice.
//
// Without a cursor (the first connection, or nothing received yet) there is nothing to resume
// from, so the page loads its state over REST once the socket is open (`onResync`), and the
// events that arrive meanwhile are applied on top.

const MAX_DELAY_MS = 2000;

export class EventStream {
  /**
   * onEvent(event): every event, in order.
   * onStatus("online" | "reconnecting"): the connection's state, for the page to show.
   * onResync(): load the state over REST (the socket could not resume from a cursor).
   * checkSession(): "ok" | "signed_out" | "down", asked when the socket keeps failing to open
   *   (a browser does not tell why a WebSocket handshake was refused).
   */
  constructor({ onEvent, onStatus, onResync, checkSession }) {
    Object.assign(this, { onEvent, onStatus, onResync, checkSession });
    this.cursor = null;
    this.socket = null;
    this.stopped = true;
    this.failures = 0;
    this.timer = null;
  }

  start() {
    this.stopped = false;
    this.connect();
  }

  /** Closes the stream for good (logout) and forgets the cursor. */
  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    const socket = this.socket;
    this.socket = null;
    socket?.close();
    this.cursor = null;
    this.failures = 0;
  }

  connect() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const since = this.cursor === null ? "" : `?since=${this.cursor}`;
    const socket = new WebSocket(`${scheme}//${location.host}/api/v1/events${since}`);
    this.socket = socket;
    let opened = false;
    let refusal = null;

    socket.onopen = () => {
      opened = true;
      this.failures = 0;
      this.onStatus("online");
      if (this.cursor === null) this.onResync();
    };
    socket.onmessage = (message) => {
      const frame = JSON.parse(message.data);
      // `{"error": ...}`: why the server ends the stream (the session ended, the cursor
      // expired). Frames with an `id` answer commands, which this page does not send.
      if (frame.error) {
        refusal = frame.error;
        return;
      }
      if (typeof frame.kind !== "string") return;
      // Typing notices are ephemeral: they have no cursor of their own to resume from.
      if (!frame.ephemeral) this.cursor = frame.cursor;
      this.onEvent(frame);
    };
    socket.onclose = () => {
      if (this.socket !== socket || this.stopped) return;
      this.socket = null;
      this.onStatus("reconnecting");
      this.retry(opened, refusal);
    };
  }

  async retry(opened, refusal) {
    if (refusal?.code === "cursor_expired") this.cursor = null;
    if (!opened) this.failures += 1;
    if (refusal?.code === "not_authorized" || this.failures >= 2) {
      const session = await this.checkSession();
      if (this.stopped) return;
      if (session === "signed_out") {
        this.stop();
        return;
      }
      // Signed in and the server answers, yet the socket will not open from our cursor:
      // it is older than the server keeps events for. Start over from the current state.
      if (session === "ok" && this.failures >= 3) this.cursor = null;
    }
    const delay = Math.min(MAX_DELAY_MS, 250 * 2 ** Math.min(this.failures, 3));
    this.timer = setTimeout(() => this.connect(), delay);
  }
}
