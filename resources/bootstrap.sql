-- brody_assets database bootstrap: the two accounts the pipeline uses.
-- Run by `brody-assets db bootstrap` (and by the setup command) as the server's admin.
-- Placeholders in {braces} are filled from dj_local_conf.json; a site edits grants here.
-- Every statement is idempotent: running it again changes nothing.

-- The legacy schemas: the lab's rigs write them; the pipeline only ever reads them.
CREATE DATABASE IF NOT EXISTS `{legacy_prefix}bdata` CHARACTER SET latin1;
CREATE DATABASE IF NOT EXISTS `{legacy_prefix}ratinfo` CHARACTER SET latin1;
CREATE DATABASE IF NOT EXISTS `{legacy_prefix}protocol` CHARACTER SET latin1;

-- Read-only account for the legacy schemas: SELECT and nothing else.
CREATE USER IF NOT EXISTS '{legacy_user}'@'127.0.0.1' IDENTIFIED BY '{legacy_password}';
CREATE USER IF NOT EXISTS '{legacy_user}'@'localhost' IDENTIFIED BY '{legacy_password}';
ALTER USER '{legacy_user}'@'127.0.0.1' IDENTIFIED BY '{legacy_password}';
ALTER USER '{legacy_user}'@'localhost' IDENTIFIED BY '{legacy_password}';
GRANT SELECT ON `{legacy_prefix_pattern}bdata`.* TO '{legacy_user}'@'127.0.0.1', '{legacy_user}'@'localhost';
GRANT SELECT ON `{legacy_prefix_pattern}ratinfo`.* TO '{legacy_user}'@'127.0.0.1', '{legacy_user}'@'localhost';
GRANT SELECT ON `{legacy_prefix_pattern}protocol`.* TO '{legacy_user}'@'127.0.0.1', '{legacy_user}'@'localhost';

-- Pipeline account: owns the new, shadow, quarantine and ephys schemas (by prefix) and may read
-- the legacy schemas (server-side INSERT ... SELECT when both live on one server).
CREATE USER IF NOT EXISTS '{pipeline_user}'@'127.0.0.1' IDENTIFIED BY '{pipeline_password}';
CREATE USER IF NOT EXISTS '{pipeline_user}'@'localhost' IDENTIFIED BY '{pipeline_password}';
ALTER USER '{pipeline_user}'@'127.0.0.1' IDENTIFIED BY '{pipeline_password}';
ALTER USER '{pipeline_user}'@'localhost' IDENTIFIED BY '{pipeline_password}';
GRANT ALL PRIVILEGES ON `{new_prefix_pattern}%`.* TO '{pipeline_user}'@'127.0.0.1', '{pipeline_user}'@'localhost';
GRANT ALL PRIVILEGES ON `{shadow_prefix_pattern}%`.* TO '{pipeline_user}'@'127.0.0.1', '{pipeline_user}'@'localhost';
GRANT SELECT ON `{legacy_prefix_pattern}bdata`.* TO '{pipeline_user}'@'127.0.0.1', '{pipeline_user}'@'localhost';
GRANT SELECT ON `{legacy_prefix_pattern}ratinfo`.* TO '{pipeline_user}'@'127.0.0.1', '{pipeline_user}'@'localhost';
GRANT SELECT ON `{legacy_prefix_pattern}protocol`.* TO '{pipeline_user}'@'127.0.0.1', '{pipeline_user}'@'localhost';
