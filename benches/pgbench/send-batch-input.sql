-- The input of SEND_TOGETHER (chatcore/src/messages/queries/batch.rs), whose statement
-- statement.sh appends: the sends of K direct chats (bench_pairs rows client_id * K ..
-- client_id * K + K - 1), each with a message_created payload of a typical size.
SELECT jsonb_agg(jsonb_build_object(
    'ord', n % :k, 'chat_id', chat_id, 'sender_id', user_id, 'id', gen_random_uuid(),
    'at', 1765000000000000, 'text', 'hello there 1234567', 'client_id', NULL,
    'created_at', now(),
    'head', '{"id":"0194c8b2-7a3e-7c11-9c55-3d2f0e9a1b22","chat_id":"0194c8b2-7a3e-7c11-9c55-3d2f0e9a1b22","seq":',
    'tail', ',"sender_id":"0194c8b2-7a3e-7c11-9c55-3d2f0e9a1b22","text":"hello there 1234567","created_at":"2026-12-07T15:20:00.123456Z"}'
) ORDER BY n)::text AS input FROM bench_pairs WHERE n / :k = :client_id \gset
