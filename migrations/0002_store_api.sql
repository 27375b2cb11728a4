-- Geofence changes reach every API process's in-memory index through LISTEN/NOTIFY.
-- The payload names the geofence and the operation; listeners read the row themselves, so
-- a payload never carries coordinates and never exceeds NOTIFY's 8000-byte limit.
-- NOTIFY is transactional: listeners hear about a change only once it is committed.

CREATE FUNCTION kairos_notify_geofence() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('kairos_geofences',
            json_build_object('op', 'delete', 'id', OLD.id, 'version', OLD.version)::text);
        RETURN OLD;
    END IF;
    PERFORM pg_notify('kairos_geofences',
        json_build_object('op', 'upsert', 'id', NEW.id, 'version', NEW.version)::text);
    RETURN NEW;
END;
$$;

CREATE TRIGGER geofences_notify
    AFTER INSERT OR UPDATE OR DELETE ON geofences
    FOR EACH ROW EXECUTE FUNCTION kairos_notify_geofence();

-- Lists filter stores by country and category.
CREATE INDEX stores_country ON stores (country);
CREATE INDEX stores_categories ON stores USING gin (categories);

-- A campaign runs in every store only when it says so. (0001 read "no campaign_stores rows"
-- as "every store"; then deleting a campaign's last store would silently widen it to the
-- whole chain. Now such a campaign runs nowhere until someone rescopes it.)
ALTER TABLE campaigns ADD COLUMN all_stores boolean NOT NULL DEFAULT false;
