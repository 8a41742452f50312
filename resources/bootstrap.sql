-- brody_assets database bootstrap: the two accounts the pipeline uses, and nothing wider.
-- Run by `brody-assets db bootstrap` (and by the setup command) as the server's admin;
-- `brody-assets db grants` prints the same statements for a DBA (passwords left for the DBA).
-- Placeholders in {braces} are filled from dj_local_conf.json; a site edits grants here.
-- A statement holding a singular placeholder ({pipeline_schema}, {pipeline_account},
-- {legacy_schema}, {legacy_account}) is repeated once per schema / account; the plural
-- ({pipeline_accounts}, {legacy_accounts}) lists every account in one statement. The pipeline's
-- schemas are the exact names in brody_assets/db/grants.py (PIPELINE_SCHEMAS): no wildcard.
-- Every statement is idempotent: running it again changes nothing.
--
-- "-- @section NAME" starts a section; which sections run on which server:
--   legacy-schemas          the demo's empty legacy schemas: only when legacy is on the pipeline's
--                           server (never on a site's real legacy server: they exist there)
--   legacy-account          the read-only account, on the server that holds the legacy schemas
--   pipeline-account        the pipeline account, on the pipeline's server
--   pipeline-reads-legacy   only when legacy is on the pipeline's server (server-side copies)

-- @section legacy-schemas
CREATE DATABASE IF NOT EXISTS `{legacy_schema}` CHARACTER SET latin1;

-- @section legacy-account
-- Read-only account for the legacy schemas: SELECT and nothing else.
CREATE USER IF NOT EXISTS {legacy_account} IDENTIFIED BY '{legacy_password}';
ALTER USER {legacy_account} IDENTIFIED BY '{legacy_password}';
GRANT SELECT ON `{legacy_schema_pattern}`.* TO {legacy_accounts};

-- @section pipeline-account
-- Pipeline account: owns the new, shadow, quarantine, staging and ephys schemas, by exact name.
CREATE USER IF NOT EXISTS {pipeline_account} IDENTIFIED BY '{pipeline_password}';
ALTER USER {pipeline_account} IDENTIFIED BY '{pipeline_password}';
GRANT ALL PRIVILEGES ON `{pipeline_schema_pattern}`.* TO {pipeline_accounts};

-- @section pipeline-reads-legacy
-- Same server only: the pipeline account may read the legacy schemas (INSERT ... SELECT).
GRANT SELECT ON `{legacy_schema_pattern}`.* TO {pipeline_accounts};
