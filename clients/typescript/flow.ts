// The whole chatcore flow through a client generated with openapi-typescript and openapi-fetch,
// typed end to end: every path, parameter, body and answer is checked by `tsc` against the
// generated `schema.d.ts`; nothing here builds a URL or a request by hand.
//
// Usage: node build/flow.js BASE_URL   (e.g. http://127.0.0.1:3000/api/v1), after
// `tsc --noEmit` and `node transpile.mjs`.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { deflateSync } from "node:zlib";

import createClient from "openapi-fetch";

import type { components, paths } from "./schema.js";

type Schemas = components["schemas"];

const baseUrl = process.argv[2];
assert.ok(baseUrl, "usage: node build/flow.js BASE_URL");

/** The body of an answer with this status, or a failed assertion saying what came instead. */
function expect<T>(
  result: { data?: T; error?: unknown; response: Response },
  status: number,
): T {
  assert.equal(
    result.response.status,
    status,
    `${result.response.url}: ${JSON.stringify(result.error)}`,
  );
  assert.ok(result.data !== undefined, `${result.response.url}: no body`);
  return result.data;
}

function as(token: string) {
  return createClient<paths>({ baseUrl, headers: { Authorization: `Bearer ${token}` } });
}

/** A small, valid RGB PNG. */
function png(width: number, height: number): Uint8Array<ArrayBuffer> {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (bytes: Buffer) => {
    let c = 0xffffffff;
    for (const byte of bytes) c = crcTable[(c ^ byte) & 0xff]! ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (kind: string, data: Buffer) => {
    const body = Buffer.concat([Buffer.from(kind, "ascii"), data]);
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.length);
    const check = Buffer.alloc(4);
    check.writeUInt32BE(crc(body));
    return Buffer.concat([length, body, check]);
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 2, 0, 0, 0], 8);
  const row = Buffer.concat([Buffer.from([0]), Buffer.alloc(width * 3, 0x7f)]);
  const rows = Buffer.concat(Array.from({ length: height }, () => row));
  return new Uint8Array(
    Buffer.concat([
      Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
      chunk("IHDR", header),
      chunk("IDAT", deflateSync(rows)),
      chunk("IEND", Buffer.alloc(0)),
    ]),
  );
}

const anonymous = createClient<paths>({ baseUrl });
const suffix = randomUUID().slice(0, 8);
const names = { ada: `ada_${suffix}`, alan: `alan_${suffix}` };

// Register two users.
const ada: Schemas["Authenticated"] = expect(
  await anonymous.POST("/auth/register", {
    body: {
      username: names.ada,
      password: "analytical engine",
      email: `ada.${suffix}@example.com`,
      display_name: "Ada Lovelace",
    },
  }),
  201,
);
assert.equal(ada.user.display_name, "Ada Lovelace");
assert.ok(!("phone" in ada.user), "absent fields are left out, never null");
const alan = expect(
  await anonymous.POST("/auth/register", {
    body: { username: names.alan, password: "universal machine" },
  }),
  201,
);

// Log in (by email) and use that session.
const login = expect(
  await anonymous.POST("/auth/login", {
    body: { login: `ada.${suffix}@example.com`, password: "analytical engine" },
  }),
  200,
);
assert.equal(login.user.id, ada.user.id);
const asAda = as(login.session.token);
const asAlan = as(alan.session.token);
const me: Schemas["User"] = expect(await asAda.GET("/users/me"), 200);
assert.equal(me.id, ada.user.id);

// Search.
const found: Schemas["UserPage"] = expect(
  await asAda.GET("/users", { params: { query: { q: names.alan, limit: 10 } } }),
  200,
);
assert.deepEqual(
  found.items.map((user) => user.id),
  [alan.user.id],
);

// A direct chat: 201 when new, 200 when it existed.
const direct: Schemas["ChatDetail"] = expect(
  await asAda.POST("/chats/direct", { body: { user_id: alan.user.id } }),
  201,
);
assert.equal(direct.kind, "direct");
assert.equal(direct.members.length, 2);
const again = expect(
  await asAlan.POST("/chats/direct", { body: { user_id: ada.user.id } }),
  200,
);
assert.equal(again.id, direct.id);
const chat = { params: { path: { id: direct.id } } };

// Send, reply.
const hello: Schemas["Message"] = expect(
  await asAda.POST("/chats/{id}/messages", {
    ...chat,
    body: { text: "Hello, Alan", client_id: "c-1" },
  }),
  201,
);
assert.equal(hello.seq, 1);
assert.equal(hello.reply_to, undefined);
const reply = expect(
  await asAlan.POST("/chats/{id}/messages", {
    ...chat,
    body: { text: "Hi Ada", reply_to: hello.id },
  }),
  201,
);
assert.equal(reply.reply_to?.message_id, hello.id);
for (const number of [0, 1, 2]) {
  expect(
    await asAda.POST("/chats/{id}/messages", { ...chat, body: { text: `note ${number}` } }),
    201,
  );
}

// History, one page at a time.
const latest: Schemas["Message"][] = expect(
  await asAlan.GET("/chats/{id}/messages", {
    params: { path: { id: direct.id }, query: { limit: 2 } },
  }),
  200,
);
assert.deepEqual(
  latest.map((message) => message.seq),
  [4, 5],
);
const newest = latest[1]!;
const older = expect(
  await asAlan.GET("/chats/{id}/messages", {
    params: { path: { id: direct.id }, query: { before: latest[0]!.seq, limit: 2 } },
  }),
  200,
);
assert.deepEqual(
  older.map((message) => message.seq),
  [2, 3],
);

// The chat list, with the last message and the unread count.
const chats: Schemas["ChatPage"] = expect(await asAlan.GET("/chats"), 200);
const first = chats.items[0]!;
assert.equal(first.id, direct.id);
assert.equal(first.last_message?.text, "note 2");
assert.equal(first.unread_count, 3); // sending read up to the reply

// A group, joined by invite.
const group = expect(
  await asAda.POST("/chats/groups", { body: { title: "Analytical Society" } }),
  201,
);
assert.equal(group.kind, "group");
assert.equal(group.members[0]?.role, "owner");
const invite: Schemas["Invite"] = expect(
  await asAda.POST("/chats/{id}/invites", {
    params: { path: { id: group.id } },
    body: { max_uses: 5 },
  }),
  201,
);
const preview = expect(
  await asAlan.GET("/invites/{code}", { params: { path: { code: invite.code } } }),
  200,
);
assert.equal(preview.state, "valid");
assert.equal(preview.already_member, false);
const joined: Schemas["JoinedGroup"] = expect(
  await asAlan.POST("/invites/{code}/accept", { params: { path: { code: invite.code } } }),
  200,
);
assert.ok(joined.joined);
assert.equal(joined.chat.members.length, 2);

// A reaction.
const counts: Schemas["ReactionCount"][] = expect(
  await asAlan.PUT("/chats/{id}/messages/{message_id}/reactions/{emoji}", {
    params: { path: { id: direct.id, message_id: hello.id, emoji: "👍" } },
  }),
  200,
);
assert.deepEqual(counts, [{ emoji: "👍", count: 1, mine: true }]);

// Read receipts.
const marker: Schemas["ReadMarker"] = expect(
  await asAlan.POST("/chats/{id}/read", { ...chat, body: { seq: newest.seq } }),
  200,
);
assert.equal(marker.seq, newest.seq);
const receipts: Schemas["ReadReceipt"][] = expect(
  await asAda.GET("/chats/{id}/messages/{message_id}/receipts", {
    params: { path: { id: direct.id, message_id: hello.id } },
  }),
  200,
);
assert.deepEqual(
  receipts.map((receipt) => receipt.user.id),
  [alan.user.id],
);

// An avatar, uploaded as a form and served back.
const uploaded: Schemas["AvatarSet"] = expect(
  await asAda.PUT("/users/me/avatar", {
    body: { file: new Blob([png(64, 48)], { type: "image/png" }) },
    bodySerializer(body) {
      const form = new FormData();
      form.append("file", body.file, "me.png");
      return form;
    },
  }),
  200,
);
assert.ok(uploaded.avatar_url);
assert.ok(uploaded.user.avatar);
const image = expect(
  await asAlan.GET("/users/{id}/avatar", {
    params: { path: { id: ada.user.id } },
    parseAs: "arrayBuffer",
  }),
  200,
);
assert.ok(image.byteLength > 0);

// Log out: the session ends at once.
const out = await asAda.POST("/auth/logout");
assert.equal(out.response.status, 204);
const refused = await asAda.GET("/users/me");
assert.equal(refused.response.status, 401);
assert.equal(refused.error?.error.code, "not_authorized");

console.log("flow passed");
