-- Per-site intake rules, applied by ingest from its in-memory site directory.
ALTER TABLE sites
    -- Hostnames whose pages count (a subdomain of one counts too). Empty: any.
    ADD COLUMN hostnames text[] NOT NULL DEFAULT '{}',
    -- Path prefixes never counted: admin and asset routes by default.
    ADD COLUMN excluded_paths text[] NOT NULL
        DEFAULT '{/admin/,/api/admin/,/static/,/media/,/__debug__/,/silk/}',
    -- Whether signed-in users count; by default only guests do, as before.
    ADD COLUMN count_authenticated boolean NOT NULL DEFAULT false,
    -- Key for hashing app install ids, so a stable install id never leaves
    -- ingest as itself. Random per site, never shown.
    ADD COLUMN install_secret bytea NOT NULL
        DEFAULT uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid());
