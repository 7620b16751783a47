-- SEND_TOGETHER of chatcore/src/messages/queries/batch.rs (copied): the sends of K direct
-- chats (bench_pairs rows client_id * K .. client_id * K + K - 1) in one statement, each with
-- a message_created payload of a typical size. See statement.sh.
SELECT jsonb_agg(jsonb_build_object(
    'ord', n % :k, 'chat_id', chat_id, 'sender_id', user_id, 'id', gen_random_uuid(),
    'at', 1765000000000000, 'text', 'hello there 1234567', 'client_id', NULL,
    'created_at', now(),
    'head', '{"id":"0194c8b2-7a3e-7c11-9c55-3d2f0e9a1b22","chat_id":"0194c8b2-7a3e-7c11-9c55-3d2f0e9a1b22","seq":',
    'tail', ',"sender_id":"0194c8b2-7a3e-7c11-9c55-3d2f0e9a1b22","text":"hello there 1234567","created_at":"2026-12-07T15:20:00.123456Z"}'
) ORDER BY n)::text AS input FROM bench_pairs WHERE n / :k = :client_id \gset
WITH input AS (
    SELECT * FROM jsonb_to_recordset(CAST(:input AS jsonb)) AS input(
        ord int, chat_id uuid, sender_id uuid, id uuid, at bigint, text text,
        client_id text, created_at timestamptz, head text, tail text)
), locked AS (
    SELECT chats.id, chats.kind FROM chats
    WHERE chats.id IN (SELECT chat_id FROM input)
    ORDER BY chats.id
    FOR UPDATE
), sender AS (
    SELECT input.*, chat_members.visible_from_seq, chat_members.last_read_seq,
           locked.kind = 'direct' AND EXISTS (
               SELECT 1 FROM chat_members AS peer
               JOIN blocks ON blocks.blocker_id = peer.user_id
                          AND blocks.blocked_id = input.sender_id
               WHERE peer.chat_id = input.chat_id AND peer.user_id <> input.sender_id
           ) AS blocked
    FROM input
    JOIN locked ON locked.id = input.chat_id
    JOIN chat_members ON chat_members.chat_id = input.chat_id
                     AND chat_members.user_id = input.sender_id
), last AS (
    SELECT DISTINCT ON (chat_id) chat_id, id, at, count(*) OVER (PARTITION BY chat_id) AS n
    FROM sender WHERE NOT blocked
    ORDER BY chat_id, ord DESC
), chat AS (
    UPDATE chats SET last_seq = chats.last_seq + last.n, last_message_id = last.id,
                     last_activity = last.at
    FROM last WHERE chats.id = last.chat_id
    RETURNING chats.id, chats.last_seq, chats.large, last.n, last.at
), numbered AS (
    SELECT sender.*,
           chat.last_seq - chat.n
               + row_number() OVER (PARTITION BY sender.chat_id ORDER BY sender.ord) AS seq
    FROM sender JOIN chat ON chat.id = sender.chat_id
    WHERE NOT sender.blocked
), marked AS (
    SELECT numbered.*,
           GREATEST(last_read_seq, COALESCE(
               lag(seq) OVER (PARTITION BY chat_id, sender_id ORDER BY ord),
               last_read_seq)) AS read_before
    FROM numbered
), message AS (
    INSERT INTO messages (id, chat_id, seq, sender_id, text, client_id, created_at)
    SELECT id, chat_id, seq, sender_id, text, client_id, created_at FROM numbered
), members AS (
    UPDATE chat_members
    SET hidden = FALSE,
        last_activity = chat.at,
        last_read_seq = COALESCE(
            (SELECT max(numbered.seq) FROM numbered
             WHERE numbered.chat_id = chat_members.chat_id
               AND numbered.sender_id = chat_members.user_id),
            chat_members.last_read_seq),
        large = chat_members.large OR chat.large
    FROM chat
    WHERE chat_members.chat_id = chat.id
      AND (NOT chat.large OR chat_members.hidden OR NOT chat_members.large
           OR chat_members.user_id IN (SELECT sender_id FROM numbered
                                       WHERE numbered.chat_id = chat.id))
), mark AS (
    INSERT INTO read_marks (chat_id, user_id, seq, read_at)
    SELECT chat_id, sender_id, seq, created_at FROM marked
    WHERE read_before < seq - 1
    ON CONFLICT (chat_id, user_id, seq) DO NOTHING
), event AS (
    INSERT INTO events (kind, chat_id, actor_id, data, created_at, message_seq)
    SELECT 'message_created', chat_id, sender_id, head || seq || tail, created_at, seq
    FROM numbered ORDER BY ord
)
SELECT input.ord, sender.visible_from_seq, numbered.seq
FROM input
LEFT JOIN sender ON sender.ord = input.ord
LEFT JOIN numbered ON numbered.ord = input.ord;
