"""Seed 002's whole list of Socket.IO events, end to end, with a stock python-socketio client.

Usage: seed002.py NODE_A_URL NODE_B_URL TRANSPORT

Alice's sockets talk to node A, Bob's to node B (the same server twice on SQLite; two
servers on one PostgreSQL), so every push Bob waits for crossed from one node to the other.
TRANSPORT is `websocket` or `polling`. Prints "seed 002 passed" at the end.
"""

import queue
import sys
import time
import uuid

import socketio

NODE_A, NODE_B, TRANSPORT = sys.argv[1], sys.argv[2], sys.argv[3]
RUN = uuid.uuid4().hex[:6]
PASSWORD = "a long enough passphrase"


class Peer:
    """One socket: what it emits, and the pushes it received, in order."""

    def __init__(self, url, auth=None):
        self.pushes = queue.Queue()
        self.client = socketio.Client(reconnection=False)
        self.client.on("*", lambda event, data: self.pushes.put((event, data)))
        self.client.connect(url, auth=auth, transports=[TRANSPORT], wait_timeout=10)
        assert self.client.transport() == TRANSPORT, self.client.transport()

    def ask(self, event, args=None):
        """Emits `event` with `args` and answers the ack."""
        return self.client.call(event, args if args is not None else {}, timeout=15)

    def ok(self, event, args=None):
        reply = self.ask(event, args)
        assert not (isinstance(reply, dict) and "error" in reply), f"{event}: {reply}"
        return reply

    def refused(self, event, args, code, field=None):
        reply = self.ask(event, args)
        assert isinstance(reply, dict) and "error" in reply, f"{event} was not refused: {reply}"
        assert reply["error"]["code"] == code, f"{event}: {reply}"
        if field is not None:
            assert reply["error"].get("field") == field, f"{event}: {reply}"
        return reply["error"]

    def push(self, name, match=lambda data: True, within=10):
        """The next push named `name` that `match`es, skipping others."""
        deadline = time.monotonic() + within
        while True:
            left = deadline - time.monotonic()
            assert left > 0, f"no {name} push within {within}s"
            try:
                event, data = self.pushes.get(timeout=left)
            except queue.Empty:
                continue
            if event == name and match(data):
                return data

    def quiet(self, name, seconds=1.0):
        """No push named `name` arrives for `seconds`."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                event, data = self.pushes.get(timeout=left)
            except queue.Empty:
                return
            assert event != name, f"unexpected {name}: {data}"

    def close(self):
        # Once what is queued is out (see `refused_handshake`).
        self.client.eio.queue.join()
        self.client.disconnect()


def refused_handshake(url, auth):
    """Connects with `auth`, which the server must refuse: the `connect_error` it sends."""
    client = socketio.Client(reconnection=False)
    errors = queue.Queue()
    client.on("connect_error", errors.put)
    client.connect(url, auth=auth, transports=[TRANSPORT], wait=False)
    error = errors.get(timeout=10)
    # Disconnect once the pong to the server's first ping is out: python-engineio's polling
    # client leaves its close packet unsent when it disconnects with a packet in flight, and
    # then waits for the server's next ping to end its long poll (20 s).
    client.eio.queue.join()
    client.disconnect()
    return error


def register(url, name):
    """An anonymous socket that registers: only `user register` and `user login` work."""
    peer = Peer(url)
    peer.refused("user data", {}, "not_authorized")
    auth = peer.ok("user register", {"username": f"{name}_{RUN}", "password": PASSWORD})
    assert auth["user"]["username"] == f"{name}_{RUN}"
    peer.token = auth["session"]["token"]
    peer.id = auth["user"]["id"]
    return peer


# Users: user register, user login, user data, user list.
alice = register(NODE_A, "alice")
bob = register(NODE_B, "bob")
carol = register(NODE_A, "carol")
again = Peer(NODE_B)
login = again.ok("user login", {"login": f"alice_{RUN}", "password": PASSWORD})
assert login["user"]["id"] == alice.id
again.refused("user login", {"login": f"alice_{RUN}", "password": PASSWORD}, "conflict")
again.close()
assert alice.ok("user data")["id"] == alice.id
assert alice.ok("user data", {"user_id": bob.id})["username"] == f"bob_{RUN}"
found = alice.ok("user list", {"q": f"bob_{RUN}"})
assert [user["id"] for user in found["items"]] == [bob.id], found

# Contacts: contact user add, contact list, contact user remote / remove.
assert alice.ok("contact user add", {"user_id": bob.id})["user"]["id"] == bob.id
assert [c["user"]["id"] for c in alice.ok("contact list")["items"]] == [bob.id]
assert alice.ok("contact user remote", {"user_id": bob.id}) is None
assert alice.ok("contact list")["items"] == []
alice.ok("contact user add", {"user_id": bob.id})
assert alice.ok("contact user remove", {"user_id": bob.id}) is None

# Conversations and messages, across nodes.
chat = alice.ok("conversation create", {"user_id": bob.id})
chat_id = chat["id"]
bob.push("conversation create", lambda e: e["chat_id"] == chat_id)
hello = alice.ok("message add", {"chat_id": chat_id, "text": "hola", "client_id": f"c-{RUN}"})
pushed = bob.push("message add", lambda e: e["data"]["id"] == hello["id"])
assert pushed["data"]["text"] == "hola" and pushed["cursor"] > 0 and pushed["kind"] == "message_created"
reply = bob.ok("message reply", {"chat_id": chat_id, "reply_to": hello["id"], "text": "hi"})
assert reply["reply_to"]["message_id"] == hello["id"]
alice.push("message reply", lambda e: e["data"]["id"] == reply["id"])
opened = alice.ok("conversation open", {"chat_id": chat_id})
assert opened["chat"]["id"] == chat_id
assert [m["text"] for m in opened["messages"]] == ["hola", "hi"], opened["messages"]
detail = alice.ok("conversation data", {"chat_id": chat_id})
assert sorted(m["user"]["id"] for m in detail["members"]) == sorted([alice.id, bob.id])
assert [c["id"] for c in alice.ok("conversation list")["items"]] == [chat_id]
marker = alice.ok("conversation close", {"chat_id": chat_id, "seq": reply["seq"]})
assert marker["seq"] == reply["seq"]
bob.push("read_marker_moved", lambda e: e["chat_id"] == chat_id)
report = bob.ok("conversation spam", {"chat_id": chat_id})
assert report["reason"] == "spam"
edited = alice.ok("message edit", {"chat_id": chat_id, "message_id": hello["id"], "text": "hola!"})
assert edited["text"] == "hola!"
bob.push("message_edited", lambda e: e["data"]["id"] == hello["id"])
counts = bob.ok("message react", {"chat_id": chat_id, "message_id": hello["id"], "emoji": "👍"})
assert counts[0]["count"] == 1
alice.push("reaction_changed", lambda e: e["data"]["message_id"] == hello["id"])
assert alice.ok("conversation typing", {"chat_id": chat_id}) is None
bob.push("typing", lambda e: e["chat_id"] == chat_id)
assert alice.ok("message delete", {"chat_id": chat_id, "message_id": hello["id"]}) is None
bob.push("message_deleted", lambda e: e["data"]["message_id"] == hello["id"])
assert alice.ok("conversation remove", {"chat_id": chat_id}) is None
assert alice.ok("conversation list")["items"] == []

# Groups: group create, group user add / admin add / admin remove / list / remove, delete.
group = alice.ok("group create", {"title": f"team {RUN}", "members": [bob.id]})
group_id = group["id"]
bob.push("group create", lambda e: e["chat_id"] == group_id)
alice.ok("group user add", {"chat_id": group_id, "user_id": carol.id})
bob.push("group user add", lambda e: e["data"]["user"]["id"] == carol.id)
carol.push("group user add", lambda e: e["chat_id"] == group_id)
promoted = alice.ok("group user admin add", {"chat_id": group_id, "user_id": carol.id})
assert promoted["role"] == "admin"
bob.push("group user admin add", lambda e: e["data"]["user"]["id"] == carol.id)
demoted = alice.ok("group user admin remove", {"chat_id": group_id, "user_id": carol.id})
assert demoted["role"] == "member"
bob.push("group user admin remove", lambda e: e["data"]["user"]["id"] == carol.id)
assert len(alice.ok("group user list", {"chat_id": group_id})) == 3
invite = alice.ok("group invite create", {"chat_id": group_id})
assert alice.ok("group user remove", {"chat_id": group_id, "user_id": carol.id}) is None
bob.push("group user remove", lambda e: e["data"]["user_id"] == carol.id)
joined = carol.ok("invite accept", {"code": invite["code"]})
assert joined["chat"]["id"] == group_id, joined
bob.push("group user add", lambda e: e["data"]["user"]["id"] == carol.id)
assert alice.ok("group delete", {"chat_id": group_id}) is None
bob.push("group delete", lambda e: e["chat_id"] == group_id)

# Bad input: an error ack, and the socket stays usable.
alice.refused("teleport", {}, "not_found")
alice.refused("message add", {"chat_id": chat_id}, "invalid_input", "text")
alice.refused("message reply", {"chat_id": chat_id, "text": "x"}, "invalid_input", "reply_to")
alice.refused("message add", {"chat_id": "not-an-id", "text": "x"}, "invalid_input", "chat_id")
carol.refused("message add", {"chat_id": chat_id, "text": "not a member"}, "not_found")
assert carol.ok("user data")["id"] == carol.id
assert len(bob.ok("message list", {"chat_id": chat_id})) == 2

# Reconnect with `since`: the missed events, once each.
last = alice.ok("message add", {"chat_id": chat_id, "text": "before the gap"})
cursor = bob.push("message add", lambda e: e["data"]["id"] == last["id"])["cursor"]
bob.close()
missed = [alice.ok("message add", {"chat_id": chat_id, "text": f"gap {n}"})["id"] for n in range(2)]
back = Peer(NODE_B, auth={"token": bob.token, "since": cursor})
got = [back.push("message add")["data"]["id"] for _ in missed]
assert got == missed, (got, missed)
back.quiet("message add")

# A bad token or cursor is refused at the handshake.
for auth, code in (
    ({"token": "forged"}, "not_authorized"),
    ({"token": bob.token, "since": 10**12}, "invalid_input"),
):
    error = refused_handshake(NODE_A, auth)
    assert error["message"].startswith(code), (auth, error)

# user unregister: the session ends, and the server says so before disconnecting.
assert carol.ok("user unregister", {"password": PASSWORD}) is None
carol.push("error", lambda e: e["error"]["code"] == "not_authorized")

for peer in (alice, back):
    peer.close()
print("seed 002 passed")
