-- Every change to the sites table is announced on the channel
-- `analytics_sites`, which every service's site directory LISTENs to: a
-- site added, changed or removed is known everywhere a moment after the
-- statement commits, not at the next periodic reload (and not after a miss
-- that a flood of unknown names could otherwise turn into a reload each).
-- Notifications are sent at commit, and several in one transaction are
-- delivered once.
CREATE FUNCTION analytics_sites_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('analytics_sites', '');
  RETURN NULL;
END $$;

CREATE TRIGGER sites_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON sites
  FOR EACH STATEMENT EXECUTE FUNCTION analytics_sites_changed();
