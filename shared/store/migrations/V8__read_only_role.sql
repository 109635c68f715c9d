-- A role that may read every table and write none: the query service needs
-- nothing more, and a leaked connection string of it cannot change a thing.
-- It has no login; the operator creates one that is a member of it (see
-- k8s/README.md, secret key postgres-readonly-url). Where the migrating role
-- may not create roles (some managed Postgres), this is skipped with a
-- notice: create the role as in this file by hand then.
DO $$
BEGIN
  BEGIN
    CREATE ROLE analytics_readonly NOLOGIN;
  EXCEPTION WHEN duplicate_object THEN
    NULL; -- roles belong to the cluster: another database made it
  END;
  EXECUTE format('GRANT CONNECT ON DATABASE %I TO analytics_readonly', current_database());
  GRANT USAGE ON SCHEMA public TO analytics_readonly;
  GRANT SELECT ON ALL TABLES IN SCHEMA public TO analytics_readonly;
  -- Tables made later by this role (partitions, new rollups) too.
  ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO analytics_readonly;
EXCEPTION WHEN insufficient_privilege THEN
  RAISE NOTICE 'role analytics_readonly not set up (%): create it by hand for a read-only query service', SQLERRM;
END $$;
