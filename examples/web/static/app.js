// The web chat: one page over chatcore's REST API (api.js) and event stream (events.js).
//
// The model: state comes from REST when the page starts (or cannot resume its stream), and
// every change after that comes as an event. Applying an event twice, or an event that the
// REST answer already contained, changes nothing: messages are kept by id, and a chat's
// preview and unread count move only for a message with a greater `seq` than the last one
// known.

import { api, seg } from "./api.js";
import { EventStream } from "./events.js";

const REACTIONS = ["👍", "🎉", "🔥"];
const TYPING_SHOWN_MS = 4000;
const TYPING_SENT_EVERY_MS = 2500;

const state = {
  me: null,
  users: new Map(), // user id -> profile, for names and avatars
  chats: new Map(), // chat id -> chat list entry (ChatListItem)
  openChatId: null,
  openChat: null, // ChatDetail of the open chat
  messages: new Map(), // message id -> Message, of the open chat
  readers: new Map(), // user id -> the seq up to which they read the open chat
  typing: new Map(), // user id -> timer, in the open chat
  readSent: new Map(), // chat id -> the last seq this page marked read
  replyTo: null,
  editing: null,
  invite: null, // the code of the invite link the page was opened at
  lastTypingSent: 0,
};

const $ = (selector) => document.querySelector(selector);

/** Builds an element: h("li", {class: "x", dataset: {id}}, child, "text", ...). */
function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "dataset") Object.assign(element.dataset, value);
    else if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else element.setAttribute(name, value === true ? "" : value);
  }
  element.append(...children.flat().filter((child) => child !== null && child !== undefined));
  return element;
}

// ---- people ---------------------------------------------------------------------------

function remember(profile) {
  if (profile?.id) state.users.set(profile.id, { ...state.users.get(profile.id), ...profile });
}

function nameOf(userId) {
  if (userId === state.me?.id) return "you";
  const user = state.users.get(userId);
  return user ? user.display_name || user.username : "someone";
}

function avatar(profile, label) {
  const text = label ?? profile?.display_name ?? profile?.username ?? "?";
  if (profile?.avatar_url) {
    const url = profile.avatar_url + (profile.avatar_url.includes("?") ? "&" : "?") + "size=128";
    return h("img", { class: "avatar", src: url, alt: "", dataset: { testid: "avatar" } });
  }
  let hue = 0;
  for (const char of text) hue = (hue * 31 + char.codePointAt(0)) % 360;
  const initial = h("span", { class: "avatar initial", "aria-hidden": "true" }, text.slice(0, 1).toUpperCase());
  initial.style.backgroundColor = `hsl(${hue} 45% 55%)`;
  return initial;
}

// ---- small things -----------------------------------------------------------------------

let toastTimer;
function toast(message) {
  const element = $("#toast");
  element.textContent = message;
  element.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => (element.hidden = true), 5000);
}

/** Runs an action, showing its failure; a lost session shows the login form. */
async function attempt(action) {
  try {
    return await action();
  } catch (error) {
    if (error.status === 401) signedOut();
    else toast(error.message);
    return undefined;
  }
}

const time = (iso) => new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });

function clientId() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

// ---- signing in and out ---------------------------------------------------------------

function showAuth(message = "") {
  $("#chat-view").hidden = true;
  $("#auth-view").hidden = false;
  $("#auth-error").textContent = message;
  $("#auth-username").focus();
}

async function submitAuth(event) {
  event.preventDefault();
  const register = event.submitter?.value === "register";
  const username = $("#auth-username").value.trim();
  const password = $("#auth-password").value;
  try {
    const authenticated = register
      ? await api("POST", "/auth/register", { username, password })
      : await api("POST", "/auth/login", { login: username, password });
    $("#auth-password").value = "";
    enter(authenticated.user);
  } catch (error) {
    $("#auth-error").textContent = error.message;
  }
}

function enter(me) {
  state.me = me;
  remember(me);
  $("#auth-view").hidden = true;
  $("#chat-view").hidden = false;
  renderMe();
  stream.start();
  if (state.invite) showInvite(state.invite);
}

function signedOut(message) {
  stream.stop();
  Object.assign(state, { me: null, openChatId: null, openChat: null, replyTo: null, editing: null });
  for (const map of [state.users, state.chats, state.messages, state.readers, state.readSent]) map.clear();
  $("#messages").replaceChildren();
  $("#search-results").replaceChildren();
  renderChats();
  renderOpenChat();
  showAuth(message);
}

async function logout() {
  stream.stop(); // before the server ends it, so that its goodbye is not taken for a lost session
  await api("POST", "/auth/logout").catch(() => {});
  signedOut();
}

/** Asked by the event stream when its socket keeps failing to open. */
async function checkSession() {
  try {
    await api("GET", "/users/me");
    return "ok";
  } catch (error) {
    if (error.status === 401) {
      signedOut("Your session ended. Please log in again.");
      return "signed_out";
    }
    return "down";
  }
}

// ---- the stream -------------------------------------------------------------------------

const stream = new EventStream({
  onEvent: applyEvent,
  onStatus: (status) => {
    const element = $("#connection");
    element.dataset.state = status;
    element.textContent = status === "online" ? "● online" : "reconnecting…";
  },
  onResync: resync,
  checkSession,
});

async function resync() {
  await loadChats();
  if (state.openChatId) await openChat(state.openChatId);
}

function applyEvent(event) {
  const { kind, data, chat_id: chatId } = event;
  switch (kind) {
    case "message_created":
      return messageCreated(data);
    case "message_edited":
      return messageChanged(data, true);
    case "message_deleted":
      return messageChanged({ ...state.messages.get(data.message_id), id: data.message_id, seq: data.seq, chat_id: chatId, deleted: true, text: undefined });
    case "reaction_changed":
      return reactionChanged(chatId, data);
    case "read_marker_moved":
      return readMarkerMoved(chatId, data);
    case "typing":
      return typing(chatId, data.user_id);
    case "user_updated":
      return userUpdated(data);
    case "member_joined":
      remember(data.user);
      return chatChanged(chatId);
    case "member_left":
    case "member_removed":
    case "member_role_changed":
    case "chat_created":
    case "chat_updated":
    case "chat_deleted":
      return chatChanged(chatId);
    case "session_revoked":
      // Ours or another of this user's: the API says whether we are still signed in.
      return checkSession();
    default:
      return undefined;
  }
}

function messageCreated(message) {
  const chat = state.chats.get(message.chat_id);
  if (!chat) {
    scheduleChatsReload(); // a chat we do not list yet: the list brings it with its counts
  } else if (message.seq > (chat.last_message?.seq ?? 0)) {
    chat.last_message = preview(message);
    chat.last_activity_at = message.created_at;
    if (message.sender_id !== state.me.id && message.chat_id !== state.openChatId) chat.unread_count += 1;
    renderChats();
  }
  if (message.chat_id === state.openChatId) {
    clearTyping(message.sender_id);
    if (!state.messages.has(message.id)) state.messages.set(message.id, message);
    renderMessages();
    markRead();
  }
}

/**
 * A message changed: from the API's answer, or from an event (`fromEvent`), whose copy is the
 * same for every member: it has no reactions of the reader's and does not quote a reply's
 * original, so those stay as the page has them.
 */
function messageChanged(message, fromEvent = false) {
  const chat = state.chats.get(message.chat_id);
  if (chat?.last_message?.id === message.id) {
    chat.last_message = { ...chat.last_message, text: message.deleted ? undefined : message.text, deleted: message.deleted };
    renderChats();
  }
  const known = state.messages.get(message.id);
  if (message.chat_id === state.openChatId && known) {
    const changed = { ...known, ...message };
    if (fromEvent) Object.assign(changed, { reactions: known.reactions, reply_to: known.reply_to });
    state.messages.set(message.id, changed);
    renderMessages();
  }
}

function reactionChanged(chatId, change) {
  if (chatId !== state.openChatId) return;
  const message = state.messages.get(change.message_id);
  if (!message) return;
  const mine = change.user_id === state.me.id;
  const reactions = message.reactions.map((reaction) => ({ ...reaction }));
  let reaction = reactions.find((r) => r.emoji === change.emoji);
  // Our own reaction was applied already from the API's answer.
  if (mine && (reaction?.mine ?? false) === change.added) return;
  if (!reaction) {
    reaction = { emoji: change.emoji, count: 0, mine: false };
    reactions.push(reaction);
  }
  reaction.count += change.added ? 1 : -1;
  if (mine) reaction.mine = change.added;
  message.reactions = reactions.filter((r) => r.count > 0);
  renderMessages();
}

function readMarkerMoved(chatId, { user_id: userId, seq }) {
  if (userId === state.me.id) {
    // Read here or in another tab: the list has the new count.
    if (chatId !== state.openChatId) scheduleChatsReload();
    return;
  }
  if (chatId === state.openChatId && seq > (state.readers.get(userId) ?? 0)) {
    state.readers.set(userId, seq);
    renderMessages();
  }
}

function typing(chatId, userId) {
  if (chatId !== state.openChatId || userId === state.me.id) return;
  clearTimeout(state.typing.get(userId));
  state.typing.set(userId, setTimeout(() => clearTyping(userId), TYPING_SHOWN_MS));
  renderTyping();
}

function clearTyping(userId) {
  if (!state.typing.has(userId)) return;
  clearTimeout(state.typing.get(userId));
  state.typing.delete(userId);
  renderTyping();
}

function userUpdated(profile) {
  remember(profile);
  if (profile.id === state.me.id) {
    state.me = { ...state.me, ...profile };
    renderMe();
  }
  for (const chat of state.chats.values()) if (chat.peer?.id === profile.id) chat.peer = profile;
  renderChats();
  renderOpenChat();
}

function chatChanged(chatId) {
  scheduleChatsReload();
  if (chatId && chatId === state.openChatId) reloadOpenChat();
}

function preview(message) {
  return {
    id: message.id,
    seq: message.seq,
    text: message.deleted ? undefined : message.text,
    deleted: message.deleted,
    sender: state.users.get(message.sender_id) ?? { id: message.sender_id },
    created_at: message.created_at,
  };
}

// ---- loading ------------------------------------------------------------------------------

let reloadTimer = null;
let reloading = null;
function scheduleChatsReload() {
  clearTimeout(reloadTimer);
  reloadTimer = setTimeout(async () => {
    await reloading;
    reloading = loadChats();
  }, 100);
}

async function loadChats() {
  const page = await attempt(() => api("GET", "/chats?limit=100"));
  if (!page) return;
  for (const chat of page.items) {
    remember(chat.peer);
    // A message event that arrived while the list was on its way is newer than the list.
    const known = state.chats.get(chat.id);
    if (known?.last_message && known.last_message.seq > (chat.last_message?.seq ?? 0)) {
      Object.assign(chat, { last_message: known.last_message, last_activity_at: known.last_activity_at, unread_count: Math.max(chat.unread_count, known.unread_count) });
    }
  }
  state.chats = new Map(page.items.map((chat) => [chat.id, chat]));
  const open = state.chats.get(state.openChatId);
  if (open) open.unread_count = 0;
  if (state.openChatId && !open) closeChat(); // left, removed, or the group is gone
  renderChats();
}

async function reloadOpenChat() {
  const id = state.openChatId;
  const detail = await attempt(() => api("GET", `/chats/${seg(id)}`));
  if (detail && state.openChatId === id) {
    state.openChat = detail;
    for (const member of detail.members) remember(member.user);
    renderOpenChat();
  }
}

async function openChat(id) {
  if (state.openChatId !== id) {
    state.messages = new Map();
    state.readers = new Map();
    for (const timer of state.typing.values()) clearTimeout(timer);
    state.typing.clear();
    cancelReplyAndEdit();
    $("#invite-link-box").hidden = true;
  }
  state.openChatId = id;
  renderChats();
  const [detail, messages] = await Promise.all([
    attempt(() => api("GET", `/chats/${seg(id)}`)),
    attempt(() => api("GET", `/chats/${seg(id)}/messages?limit=50`)),
  ]);
  if (state.openChatId !== id || !detail || !messages) return;
  state.openChat = detail;
  for (const member of detail.members) remember(member.user);
  // Merged, not replaced: events that arrived during the request are newer.
  for (const message of messages) if (!state.messages.has(message.id)) state.messages.set(message.id, message);
  // Who read our latest message: later moves come as read_marker_moved events.
  const mine = [...state.messages.values()].filter((m) => m.sender_id === state.me.id).sort((a, b) => b.seq - a.seq)[0];
  if (mine) {
    const receipts = await attempt(() => api("GET", `/chats/${seg(id)}/messages/${seg(mine.id)}/receipts`));
    for (const receipt of receipts ?? []) {
      if (receipt.user.id !== state.me.id && mine.seq > (state.readers.get(receipt.user.id) ?? 0)) state.readers.set(receipt.user.id, mine.seq);
    }
  }
  if (state.openChatId !== id) return;
  const chat = state.chats.get(id);
  if (chat) chat.unread_count = 0;
  renderChats();
  renderOpenChat();
  renderMessages(true);
  markRead();
}

function closeChat() {
  state.openChatId = null;
  state.openChat = null;
  state.messages = new Map();
  renderOpenChat();
}

/** Moves our read marker to the latest message of the open chat. */
function markRead() {
  const id = state.openChatId;
  if (!id || document.visibilityState !== "visible") return;
  const latest = Math.max(0, ...[...state.messages.values()].map((m) => m.seq));
  if (latest <= (state.readSent.get(id) ?? 0)) return;
  state.readSent.set(id, latest);
  const chat = state.chats.get(id);
  if (chat && chat.unread_count) {
    chat.unread_count = 0;
    renderChats();
  }
  api("POST", `/chats/${seg(id)}/read`, { seq: latest }).catch(() => state.readSent.delete(id));
}

// ---- actions ------------------------------------------------------------------------------

let searchTimer;
function search() {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(async () => {
    const query = $("#user-search").value.trim();
    if (!query) return $("#search-results").replaceChildren();
    const page = await attempt(() => api("GET", `/users?q=${encodeURIComponent(query)}&limit=10`));
    if (!page || $("#user-search").value.trim() !== query) return;
    $("#search-results").replaceChildren(
      ...page.items
        .filter((user) => user.id !== state.me.id)
        .map((user) =>
          h(
            "li",
            { dataset: { testid: "search-result", username: user.username } },
            h("button", { type: "button", class: "person", onclick: () => startDirect(user) }, avatar(user), h("span", {}, user.display_name || user.username)),
          ),
        ),
    );
  }, 200);
}

async function startDirect(user) {
  const chat = await attempt(() => api("POST", "/chats/direct", { user_id: user.id }));
  if (!chat) return;
  $("#user-search").value = "";
  $("#search-results").replaceChildren();
  await loadChats();
  await openChat(chat.id);
}

async function createGroup(event) {
  event.preventDefault();
  const title = $("#group-title").value.trim();
  const chat = await attempt(() => api("POST", "/chats/groups", { title }));
  if (!chat) return;
  $("#group-title").value = "";
  await loadChats();
  await openChat(chat.id);
}

async function makeInvite() {
  const invite = await attempt(() => api("POST", `/chats/${seg(state.openChatId)}/invites`, {}));
  if (!invite) return;
  $("#invite-link").value = `${location.origin}/join/${encodeURIComponent(invite.code)}`;
  $("#invite-link-box").hidden = false;
  $("#invite-link").select();
}

async function showInvite(code) {
  const view = $("#invite-view");
  const invite = await attempt(() => api("GET", `/invites/${seg(code)}`));
  if (!invite) return dismissInvite();
  $("#invite-title").textContent = invite.title ?? "A group";
  const members = `${invite.member_count} member${invite.member_count === 1 ? "" : "s"}`;
  const usable = invite.state === "valid" || invite.already_member;
  $("#invite-info").textContent = invite.already_member
    ? `${members}. You are a member already.`
    : usable ? `${members}. You were invited to join.` : `${members}. This invite link is ${invite.state}.`;
  $("#join-button").textContent = invite.already_member ? "Open group" : "Join group";
  $("#join-button").hidden = !usable;
  view.hidden = false;
}

async function joinInvite() {
  const joined = await attempt(() => api("POST", `/invites/${seg(state.invite)}/accept`));
  if (!joined) return;
  dismissInvite();
  await loadChats();
  await openChat(joined.chat.id);
}

function dismissInvite() {
  state.invite = null;
  $("#invite-view").hidden = true;
  history.replaceState(null, "", "/");
}

async function send(event) {
  event.preventDefault();
  const input = $("#composer-input");
  const text = input.value;
  if (!text.trim() || !state.openChatId) return;
  const chatId = state.openChatId;
  if (state.editing) {
    const edited = await attempt(() => api("PATCH", `/chats/${seg(chatId)}/messages/${seg(state.editing.id)}`, { text }));
    if (!edited) return;
    messageChanged(edited);
  } else {
    const body = { text, client_id: clientId() };
    if (state.replyTo) body.reply_to = state.replyTo.id;
    const sent = await attempt(() => api("POST", `/chats/${seg(chatId)}/messages`, body));
    if (!sent) return; // the text stays in the box, to send again
    messageCreated(sent);
  }
  input.value = "";
  cancelReplyAndEdit();
}

function typed() {
  const now = Date.now();
  if (!state.openChatId || !$("#composer-input").value || now - state.lastTypingSent < TYPING_SENT_EVERY_MS) return;
  state.lastTypingSent = now;
  api("POST", `/chats/${seg(state.openChatId)}/typing`).catch(() => {});
}

function reply(message) {
  state.editing = null;
  state.replyTo = message;
  $("#reply-text").textContent = `Replying to ${nameOf(message.sender_id)}: ${message.text ?? ""}`;
  $("#reply-bar").hidden = false;
  $("#composer-input").focus();
}

function edit(message) {
  state.replyTo = null;
  state.editing = message;
  $("#reply-text").textContent = "Editing your message";
  $("#reply-bar").hidden = false;
  $("#composer-input").value = message.text ?? "";
  $("#send-button").textContent = "Save";
  $("#composer-input").focus();
}

function cancelReplyAndEdit() {
  state.replyTo = null;
  state.editing = null;
  $("#reply-bar").hidden = true;
  $("#send-button").textContent = "Send";
}

async function remove(message) {
  const done = await attempt(() => api("DELETE", `/chats/${seg(message.chat_id)}/messages/${seg(message.id)}`));
  if (done !== undefined) messageChanged({ ...message, deleted: true, text: undefined });
}

async function react(message, emoji) {
  const existing = message.reactions.find((r) => r.emoji === emoji);
  const method = existing?.mine ? "DELETE" : "PUT";
  const reactions = await attempt(() => api(method, `/chats/${seg(message.chat_id)}/messages/${seg(message.id)}/reactions/${seg(emoji)}`));
  if (!reactions) return;
  const current = state.messages.get(message.id);
  if (current) {
    current.reactions = reactions;
    renderMessages();
  }
}

async function uploadAvatar() {
  const file = $("#avatar-input").files[0];
  if (!file) return;
  const form = new FormData();
  form.append("file", file);
  const result = await attempt(() => api("PUT", "/users/me/avatar", form));
  $("#avatar-input").value = "";
  if (result) userUpdated({ ...result.user });
}

// ---- rendering ----------------------------------------------------------------------------

function renderMe() {
  if (!state.me) return;
  $("#me-avatar").replaceChildren(avatar(state.me));
  $("#me-name").textContent = state.me.display_name || state.me.username;
}

function chatTitle(chat) {
  if (chat.kind === "direct") return chat.peer ? chat.peer.display_name || chat.peer.username : "direct chat";
  return chat.title ?? "group";
}

function chatAvatar(chat) {
  return chat.kind === "direct" ? avatar(chat.peer) : avatar(null, chat.title ?? "#");
}

function renderChats() {
  const chats = [...state.chats.values()].sort((a, b) => Date.parse(b.last_activity_at) - Date.parse(a.last_activity_at));
  $("#chat-list").replaceChildren(
    ...chats.map((chat) => {
      const last = chat.last_message;
      let text = "No messages yet";
      if (last) {
        const body = last.deleted ? "message deleted" : last.text;
        const who = last.sender?.id === state.me?.id ? "You: " : chat.kind === "group" ? `${nameOf(last.sender?.id)}: ` : "";
        text = who + body;
      }
      return h(
        "li",
        {
          class: chat.id === state.openChatId ? "chat-item active" : "chat-item",
          dataset: { testid: "chat-item", chatId: chat.id, title: chatTitle(chat) },
          onclick: () => openChat(chat.id),
        },
        chatAvatar(chat),
        h("div", { class: "grow" }, h("div", { class: "name" }, chatTitle(chat)), h("div", { class: "preview muted", dataset: { testid: "chat-preview" } }, text)),
        chat.unread_count > 0 ? h("span", { class: "unread", dataset: { testid: "unread-count" } }, String(chat.unread_count)) : null,
      );
    }),
  );
}

function renderOpenChat() {
  const chat = state.chats.get(state.openChatId);
  $("#open-chat").hidden = !state.openChatId;
  $("#empty-view").hidden = Boolean(state.openChatId);
  if (!state.openChatId || !chat) return;
  $("#chat-avatar").replaceChildren(chatAvatar(chat));
  $("#chat-title").textContent = chatTitle(chat);
  const members = state.openChat?.members ?? [];
  $("#chat-subtitle").textContent =
    chat.kind === "group" ? members.map((m) => (m.user.id === state.me.id ? "you" : m.user.display_name || m.user.username)).join(", ") : "direct chat";
  const me = members.find((m) => m.user.id === state.me.id);
  $("#invite-button").hidden = !(chat.kind === "group" && (me?.role === "owner" || me?.role === "admin"));
}

function renderMessages(scrollToEnd = false) {
  const list = $("#messages");
  const atEnd = scrollToEnd || list.scrollHeight - list.scrollTop - list.clientHeight < 60;
  const messages = [...state.messages.values()].sort((a, b) => a.seq - b.seq);
  // "Read by" goes under our latest message that someone read, naming who read it.
  const ours = messages.filter((m) => m.sender_id === state.me.id && !m.deleted);
  let readMark = null;
  for (let i = ours.length - 1; i >= 0 && !readMark; i--) {
    const readers = [...state.readers].filter(([, seq]) => seq >= ours[i].seq).map(([id]) => nameOf(id));
    if (readers.length) readMark = { id: ours[i].id, text: `Read by ${readers.join(", ")}` };
  }
  list.replaceChildren(...messages.map((message) => renderMessage(message, readMark?.id === message.id ? readMark.text : null)));
  if (atEnd) list.scrollTop = list.scrollHeight;
}

function renderMessage(message, readBy) {
  const mine = message.sender_id === state.me.id;
  const sender = state.users.get(message.sender_id);
  const quote = message.reply_to ? h("blockquote", { class: "quote", dataset: { testid: "reply-quote" } }, quoteOf(message.reply_to)) : null;
  const actions = message.deleted
    ? null
    : h(
        "div",
        { class: "actions" },
        h("button", { type: "button", class: "link", dataset: { action: "reply" }, onclick: () => reply(message) }, "Reply"),
        ...REACTIONS.map((emoji) => h("button", { type: "button", class: "link", dataset: { action: "react", emoji }, onclick: () => react(message, emoji) }, emoji)),
        mine ? h("button", { type: "button", class: "link", dataset: { action: "edit" }, onclick: () => edit(message) }, "Edit") : null,
        mine ? h("button", { type: "button", class: "link", dataset: { action: "delete" }, onclick: () => remove(message) }, "Delete") : null,
      );
  return h(
    "li",
    { class: mine ? "message mine" : "message", dataset: { testid: "message", id: message.id, seq: String(message.seq) } },
    mine ? null : avatar(sender),
    h(
      "div",
      { class: "bubble" },
      mine ? null : h("div", { class: "sender" }, nameOf(message.sender_id)),
      quote,
      message.deleted
        ? h("div", { class: "text deleted", dataset: { testid: "message-deleted" } }, "message deleted")
        : h("div", { class: "text", dataset: { testid: "message-text" } }, message.text ?? ""),
      message.reactions.length
        ? h(
            "div",
            { class: "reactions" },
            message.reactions.map((r) =>
              h("button", { type: "button", class: r.mine ? "reaction mine" : "reaction", dataset: { testid: "reaction", emoji: r.emoji }, onclick: () => react(message, r.emoji) }, `${r.emoji} ${r.count}`),
            ),
          )
        : null,
      h("div", { class: "meta muted" }, time(message.created_at), message.edited_at && !message.deleted ? h("span", { dataset: { testid: "edited" } }, " · edited") : null),
      readBy ? h("div", { class: "read-by", dataset: { testid: "read-by" } }, `✓✓ ${readBy}`) : null,
      actions,
    ),
  );
}

/**
 * What a reply shows of its original. Events name the original without quoting it (they are
 * the same for every member, and some may not see it), so the copy on the page, when there is
 * one, comes first; it also shows the original's latest edit.
 */
function quoteOf(reply) {
  const original = state.messages.get(reply.message_id);
  if (original) return `${nameOf(original.sender_id)}: ${original.deleted ? "message deleted" : original.text}`;
  if (reply.visible) return `${nameOf(reply.sender_id)}: ${reply.deleted ? "message deleted" : reply.text ?? ""}`;
  return "an earlier message";
}

function renderTyping() {
  const names = [...state.typing.keys()].map(nameOf);
  $("#typing").textContent = names.length ? `${names.join(", ")} ${names.length === 1 ? "is" : "are"} typing…` : "";
}

// ---- start ----------------------------------------------------------------------------------

function bind() {
  $("#auth-form").addEventListener("submit", submitAuth);
  $("#logout").addEventListener("click", logout);
  $("#user-search").addEventListener("input", search);
  $("#group-form").addEventListener("submit", createGroup);
  $("#invite-button").addEventListener("click", makeInvite);
  $("#invite-copy").addEventListener("click", () => navigator.clipboard?.writeText($("#invite-link").value).catch(() => {}));
  $("#join-button").addEventListener("click", joinInvite);
  $("#invite-dismiss").addEventListener("click", dismissInvite);
  $("#composer").addEventListener("submit", send);
  $("#composer-input").addEventListener("input", typed);
  $("#composer-input").addEventListener("keydown", (event) => event.key === "Escape" && cancelReplyAndEdit());
  $("#reply-cancel").addEventListener("click", cancelReplyAndEdit);
  $("#avatar-input").addEventListener("change", uploadAvatar);
  document.addEventListener("visibilitychange", markRead);
}

async function start() {
  bind();
  const invite = location.pathname.match(/^\/join\/([^/]+)$/);
  if (invite) state.invite = decodeURIComponent(invite[1]);
  try {
    enter(await api("GET", "/users/me"));
  } catch (error) {
    showAuth(error.status === 401 ? "" : error.message);
  }
}

start();
