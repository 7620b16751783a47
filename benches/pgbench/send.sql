-- SEND_IN_ONE_STATEMENT of chatcore/src/messages/queries/send.rs (copied, with the values
-- of one send in the client's own direct chat, bench_pairs row client_id). See statement.sh.
SELECT chat_id AS chat, user_id AS usr FROM bench_pairs WHERE n = :client_id \gset
WITH sender AS (
    SELECT chat_members.visible_from_seq, chat_members.last_read_seq,
           chats.kind = 'direct' AND EXISTS (SELECT 1 FROM chat_members AS peer
         JOIN blocks ON blocks.blocker_id = peer.user_id AND blocks.blocked_id = CAST(:usr AS uuid)
         WHERE peer.chat_id = CAST(:chat AS uuid) AND peer.user_id <> CAST(:usr AS uuid)) AS blocked
    FROM chat_members JOIN chats ON chats.id = chat_members.chat_id
    WHERE chat_members.chat_id = CAST(:chat AS uuid) AND chat_members.user_id = CAST(:usr AS uuid)
), chat AS (
    UPDATE chats SET last_seq = last_seq + 1, last_message_id = gen_random_uuid(), last_activity = 1765000000000000
    WHERE id = CAST(:chat AS uuid) AND EXISTS (SELECT 1 FROM sender WHERE NOT blocked)
    RETURNING last_seq, large
), message AS (
    INSERT INTO messages (id, chat_id, seq, sender_id, text, client_id, created_at)
    SELECT gen_random_uuid(), CAST(:chat AS uuid), chat.last_seq, CAST(:usr AS uuid), 'hello there 1234567', NULL, now() FROM chat
), members AS (
    UPDATE chat_members
    SET hidden = FALSE,
        last_activity = 1765000000000000,
        last_read_seq = CASE WHEN user_id = CAST(:usr AS uuid) THEN (SELECT last_seq FROM chat)
                             ELSE last_read_seq END,
        large = large OR (SELECT large FROM chat)
    WHERE chat_id = CAST(:chat AS uuid) AND EXISTS (SELECT 1 FROM chat)
      AND (NOT (SELECT large FROM chat) OR hidden OR NOT large OR user_id = CAST(:usr AS uuid))
), mark AS (
    INSERT INTO read_marks (chat_id, user_id, seq, read_at)
    SELECT CAST(:chat AS uuid), CAST(:usr AS uuid), chat.last_seq, now() FROM chat, sender
    WHERE sender.last_read_seq < chat.last_seq - 1
    ON CONFLICT (chat_id, user_id, seq) DO NOTHING
), event AS (
    INSERT INTO events (kind, chat_id, actor_id, data, created_at, message_seq)
    SELECT 'message_created', CAST(:chat AS uuid), CAST(:usr AS uuid), '{"id":"0194c8b2-7a3e-7c11-9c55-3d2f0e9a1b22","chat_id":"0194c8b2-7a3e-7c11-9c55-3d2f0e9a1b22","seq":' || chat.last_seq || ',"sender_id":"0194c8b2-7a3e-7c11-9c55-3d2f0e9a1b22","text":"hello there 1234567","created_at":"2026-12-07T15:20:00.123456Z"}', now(), chat.last_seq FROM chat
)
SELECT sender.visible_from_seq, sender.blocked, chat.last_seq
FROM sender LEFT JOIN chat ON TRUE;
