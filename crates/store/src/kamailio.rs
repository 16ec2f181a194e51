//! What a Kamailio edge reads from callrec's PostgreSQL database (schema version 3; nothing on
//! SQLite): callrec's documents seen through Kamailio's table shapes, so that the edge
//! authenticates phones and recognises carriers against the same documents the API writes, with
//! no copy to keep in sync. The reference configuration is `deploy/kamailio/kamailio.cfg`; the
//! shape of the deployment is in `docs/deployment.md`.
//!
//! * **`subscriber`** (view, read by Kamailio's `auth_db`): one row per device that may register
//!   with a password: `id` (the device id), `username` (`sip.username`), `domain` (`sip.realm`,
//!   else its account's `realm`, lower-cased, as callrec's directory does), `password`
//!   (`sip.password`; `auth_db` runs with `calculate_ha1 yes`), `ha1` and `ha1b` (computed MD5s,
//!   for a configuration that prefers them), `device_id` and `account_id` (loaded with
//!   `load_credentials` and sent to a node as `X-AUTH-Device-ID` / `X-AUTH-Account-ID`). Only
//!   devices with `sip.method` `"password"` (or none) that are enabled, whose account is enabled
//!   (`enabled` and `pvt_enabled`) and whose owner, when they name one, exists and is enabled.
//!   Being a view, a password changed through the API applies at the next REGISTER.
//! * **`carrier_addresses`** (view, read per INVITE by the edge's `sqlops`): `resource_id`,
//!   `account_id` and `address` (`inet`, a host or a network) for every enabled resource: its
//!   `origination_cidrs`, or when it has none its gateways' IP addresses (host names are
//!   skipped), the same rule callrec's directory applies. A value PostgreSQL cannot read as an
//!   address is skipped (`callrec_inet`), never an error for the whole query.
//! * **`version`**, **`location`**, **`location_attrs`**: Kamailio 5.6's own tables, in its own
//!   DDL (`/usr/share/kamailio/postgres/standard-create.sql` and `usrloc-create.sql`), created if
//!   absent, with their `version` rows and the `subscriber` row (7) that `auth_db` checks. usrloc
//!   runs with `db_mode 1` (write-through), so registrations survive a restart of the edge.
//!   Created here, not by `kamdbctl`, so one migration makes the database ready for both; do not
//!   run Kamailio's `auth_db-create.sql` on it (its `subscriber` table would clash with the view).

/// Version 3: Kamailio's tables and the views over callrec's documents (PostgreSQL only).
pub(crate) const V3: &[&str] = &[
    // Kamailio's table-version registry (standard-create.sql), unless Kamailio created it.
    "pg: CREATE TABLE IF NOT EXISTS version (
        id SERIAL PRIMARY KEY NOT NULL,
        table_name VARCHAR(32) NOT NULL,
        table_version INTEGER DEFAULT 0 NOT NULL,
        CONSTRAINT version_table_name_idx UNIQUE (table_name)
    )",
    // usrloc's tables (usrloc-create.sql of Kamailio 5.6, location version 9).
    "pg: CREATE TABLE IF NOT EXISTS location (
        id SERIAL PRIMARY KEY NOT NULL,
        ruid VARCHAR(64) DEFAULT '' NOT NULL,
        username VARCHAR(64) DEFAULT '' NOT NULL,
        domain VARCHAR(64) DEFAULT NULL,
        contact VARCHAR(512) DEFAULT '' NOT NULL,
        received VARCHAR(128) DEFAULT NULL,
        path VARCHAR(512) DEFAULT NULL,
        expires TIMESTAMP WITHOUT TIME ZONE DEFAULT '2030-05-28 21:32:15' NOT NULL,
        q REAL DEFAULT 1.0 NOT NULL,
        callid VARCHAR(255) DEFAULT 'Default-Call-ID' NOT NULL,
        cseq INTEGER DEFAULT 1 NOT NULL,
        last_modified TIMESTAMP WITHOUT TIME ZONE DEFAULT '2000-01-01 00:00:01' NOT NULL,
        flags INTEGER DEFAULT 0 NOT NULL,
        cflags INTEGER DEFAULT 0 NOT NULL,
        user_agent VARCHAR(255) DEFAULT '' NOT NULL,
        socket VARCHAR(64) DEFAULT NULL,
        methods INTEGER DEFAULT NULL,
        instance VARCHAR(255) DEFAULT NULL,
        reg_id INTEGER DEFAULT 0 NOT NULL,
        server_id INTEGER DEFAULT 0 NOT NULL,
        connection_id INTEGER DEFAULT 0 NOT NULL,
        keepalive INTEGER DEFAULT 0 NOT NULL,
        partition INTEGER DEFAULT 0 NOT NULL,
        CONSTRAINT location_ruid_idx UNIQUE (ruid)
    )",
    "pg: CREATE INDEX IF NOT EXISTS location_account_contact_idx \
     ON location (username, domain, contact)",
    "pg: CREATE INDEX IF NOT EXISTS location_expires_idx ON location (expires)",
    "pg: CREATE INDEX IF NOT EXISTS location_tcpcon_idx ON location (connection_id)",
    "pg: CREATE INDEX IF NOT EXISTS location_connection_idx \
     ON location (server_id, connection_id)",
    "pg: CREATE TABLE IF NOT EXISTS location_attrs (
        id SERIAL PRIMARY KEY NOT NULL,
        ruid VARCHAR(64) DEFAULT '' NOT NULL,
        username VARCHAR(64) DEFAULT '' NOT NULL,
        domain VARCHAR(64) DEFAULT NULL,
        aname VARCHAR(64) DEFAULT '' NOT NULL,
        atype INTEGER DEFAULT 0 NOT NULL,
        avalue VARCHAR(512) DEFAULT '' NOT NULL,
        last_modified TIMESTAMP WITHOUT TIME ZONE DEFAULT '2000-01-01 00:00:01' NOT NULL
    )",
    "pg: CREATE INDEX IF NOT EXISTS location_attrs_account_record_idx \
     ON location_attrs (username, domain, ruid)",
    "pg: CREATE INDEX IF NOT EXISTS location_attrs_last_modified_idx \
     ON location_attrs (last_modified)",
    // The table versions Kamailio 5.6 checks at start-up.
    "pg: INSERT INTO version (table_name, table_version) VALUES \
     ('version', 1), ('location', 9), ('location_attrs', 1), ('subscriber', 7) \
     ON CONFLICT (table_name) DO UPDATE SET table_version = EXCLUDED.table_version",
    // A text as an address, or NULL (never an error that would fail the edge's whole query).
    "pg: CREATE OR REPLACE FUNCTION callrec_inet(t TEXT) RETURNS inet
        LANGUAGE plpgsql IMMUTABLE AS $$
        BEGIN
            RETURN btrim(t, ' []')::inet;
        EXCEPTION WHEN others THEN
            RETURN NULL;
        END
        $$",
    // Whether a document's boolean `key` is not false (absent counts as true, as the directory
    // reads it).
    "pg: CREATE OR REPLACE FUNCTION callrec_enabled(body jsonb, key TEXT) RETURNS boolean
        LANGUAGE sql IMMUTABLE AS $$
        SELECT COALESCE(body -> key, 'true'::jsonb) <> 'false'::jsonb
        $$",
    "pg: CREATE OR REPLACE VIEW subscriber AS
        SELECT s.id, s.username, s.domain, s.password,
               md5(s.username || ':' || s.domain || ':' || s.password) AS ha1,
               md5(s.username || '@' || s.domain || ':' || s.domain || ':' || s.password) AS ha1b,
               s.id AS device_id, s.account_id
        FROM (
            SELECT d.id, d.account_id,
                   db #>> '{sip,username}' AS username,
                   lower(btrim(COALESCE(NULLIF(btrim(db #>> '{sip,realm}'), ''),
                                        ab ->> 'realm'))) AS domain,
                   db #>> '{sip,password}' AS password
            FROM documents d
            CROSS JOIN LATERAL (SELECT d.body::jsonb AS db) dj
            JOIN documents a ON a.kind = 'account' AND a.id = d.account_id
            CROSS JOIN LATERAL (SELECT a.body::jsonb AS ab) aj
            WHERE d.kind = 'device'
              AND COALESCE(db #>> '{sip,method}', 'password') = 'password'
              AND callrec_enabled(db, 'enabled')
              AND callrec_enabled(ab, 'enabled')
              AND callrec_enabled(ab, 'pvt_enabled')
              AND (db ->> 'owner_id' IS NULL OR EXISTS (
                    SELECT 1 FROM documents u
                    WHERE u.kind = 'user' AND u.id = db ->> 'owner_id'
                      AND callrec_enabled(u.body::jsonb, 'enabled')))
        ) s
        WHERE s.username IS NOT NULL AND s.username <> ''
          AND s.domain IS NOT NULL AND s.domain <> ''
          AND s.password IS NOT NULL AND s.password <> ''",
    "pg: CREATE OR REPLACE VIEW carrier_addresses AS
        SELECT c.resource_id, c.account_id, callrec_inet(c.address) AS address
        FROM (
            SELECT r.id AS resource_id, r.account_id,
                   jsonb_array_elements_text(rb -> 'origination_cidrs') AS address
            FROM documents r CROSS JOIN LATERAL (SELECT r.body::jsonb AS rb) rj
            WHERE r.kind = 'resource' AND callrec_enabled(rb, 'enabled')
              AND jsonb_typeof(rb -> 'origination_cidrs') = 'array'
            UNION ALL
            SELECT r.id, r.account_id, g ->> 'server'
            FROM documents r CROSS JOIN LATERAL (SELECT r.body::jsonb AS rb) rj
            CROSS JOIN LATERAL jsonb_array_elements(
                CASE WHEN jsonb_typeof(rb -> 'gateways') = 'array'
                     THEN rb -> 'gateways' ELSE '[]'::jsonb END) g
            WHERE r.kind = 'resource' AND callrec_enabled(rb, 'enabled')
              AND rb -> 'origination_cidrs' IS NULL
              AND jsonb_typeof(g) = 'object'
        ) c
        WHERE callrec_inet(c.address) IS NOT NULL",
];
