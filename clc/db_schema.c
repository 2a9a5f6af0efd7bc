/*
 * db_schema.c - the CLC's sqlite state (clc.db) and its migrations.
 *
 * Owners are account ids (the 12 digits of users.db), not user names: a
 * user renamed or re-created under the same name never inherits another's
 * resources.  Nullable optional values stay NULL; columns that take part
 * in UNIQUE constraints use '' for "none" (sqlite treats NULLs as distinct).
 * Never edit a migration once released: add one.
 */
#include "clc.h"
#include "core/db.h"

static const char schema_v1[] =
	"CREATE TABLE images ("
	" id TEXT PRIMARY KEY, owner TEXT NOT NULL, location TEXT NOT NULL,"
	" name TEXT, description TEXT,"
	" kind TEXT NOT NULL DEFAULT 'machine' CHECK (kind IN ('machine','kernel','ramdisk')),"
	" architecture TEXT NOT NULL DEFAULT 'x86_64', kernel_id TEXT, ramdisk_id TEXT,"
	" state TEXT NOT NULL DEFAULT 'available', is_public INTEGER NOT NULL DEFAULT 0,"
	" platform TEXT, virtio INTEGER NOT NULL DEFAULT 1, created INTEGER NOT NULL);"
	"CREATE TABLE image_launch ("
	" image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,"
	" account TEXT NOT NULL, PRIMARY KEY (image_id, account));"
	"CREATE TABLE reservations ("
	" id TEXT PRIMARY KEY, owner TEXT NOT NULL, client_token TEXT,"
	" created INTEGER NOT NULL);"
	"CREATE UNIQUE INDEX reservations_token ON reservations(owner, client_token)"
	" WHERE client_token IS NOT NULL;"
	"CREATE TABLE reservation_groups ("
	" reservation_id TEXT NOT NULL REFERENCES reservations(id) ON DELETE CASCADE,"
	" group_id TEXT NOT NULL, group_name TEXT NOT NULL,"
	" PRIMARY KEY (reservation_id, group_id));"
	"CREATE TABLE instances ("
	" id TEXT PRIMARY KEY,"
	" reservation_id TEXT NOT NULL REFERENCES reservations(id) ON DELETE CASCADE,"
	" owner TEXT NOT NULL, image_id TEXT NOT NULL, kernel_id TEXT, ramdisk_id TEXT,"
	" type TEXT NOT NULL, key_name TEXT, key_material TEXT, launch_index INTEGER NOT NULL,"
	" state TEXT NOT NULL DEFAULT 'pending', state_reason TEXT, zone TEXT NOT NULL,"
	" private_ip TEXT, public_ip TEXT, mac TEXT, node TEXT, user_data TEXT,"
	" launched INTEGER NOT NULL, state_changed INTEGER NOT NULL,"
	" disk_attachment TEXT, net_attachment TEXT);"
	"CREATE INDEX instances_owner ON instances(owner, reservation_id);"
	"CREATE INDEX instances_reservation ON instances(reservation_id);"
	"CREATE INDEX instances_private_ip ON instances(private_ip);"
	"CREATE TABLE key_pairs ("
	" owner TEXT NOT NULL, name TEXT NOT NULL, fingerprint TEXT NOT NULL,"
	" public_key TEXT NOT NULL, created INTEGER NOT NULL, PRIMARY KEY (owner, name));"
	"CREATE TABLE groups ("
	" id TEXT PRIMARY KEY, owner TEXT NOT NULL, name TEXT NOT NULL,"
	" description TEXT NOT NULL, UNIQUE (owner, name));"
	"CREATE TABLE group_rules ("
	" group_id TEXT NOT NULL REFERENCES groups(id) ON DELETE CASCADE,"
	" protocol TEXT NOT NULL, from_port INTEGER NOT NULL, to_port INTEGER NOT NULL,"
	" cidr TEXT NOT NULL DEFAULT '', src_owner TEXT NOT NULL DEFAULT '',"
	" src_group TEXT NOT NULL DEFAULT '',"
	" UNIQUE (group_id, protocol, from_port, to_port, cidr, src_owner, src_group));"
	"CREATE TABLE addresses ("
	" public_ip TEXT PRIMARY KEY, owner TEXT, instance_id TEXT, allocated INTEGER,"
	" in_pool INTEGER NOT NULL DEFAULT 1);"
	"CREATE TABLE volumes ("
	" id TEXT PRIMARY KEY, owner TEXT NOT NULL, size INTEGER NOT NULL, snapshot_id TEXT,"
	" zone TEXT NOT NULL, status TEXT NOT NULL, created INTEGER NOT NULL,"
	" instance_id TEXT, device TEXT, attach_status TEXT, attached INTEGER);"
	"CREATE TABLE snapshots ("
	" id TEXT PRIMARY KEY, owner TEXT NOT NULL, volume_id TEXT NOT NULL,"
	" volume_size INTEGER NOT NULL, status TEXT NOT NULL, progress TEXT,"
	" started INTEGER NOT NULL, description TEXT);"
	"CREATE TABLE tags ("
	" resource_id TEXT NOT NULL, owner TEXT NOT NULL, key TEXT NOT NULL,"
	" value TEXT NOT NULL DEFAULT '', PRIMARY KEY (resource_id, key));"
	"CREATE INDEX tags_owner ON tags(owner, resource_id);"
	/* Eucalyptus 2's five VM types and their defaults; io_class feeds the NC. */
	"CREATE TABLE instance_types ("
	" name TEXT PRIMARY KEY, cores INTEGER NOT NULL CHECK (cores > 0),"
	" memory INTEGER NOT NULL CHECK (memory > 0), disk INTEGER NOT NULL CHECK (disk > 0),"
	" io_class TEXT NOT NULL DEFAULT 'standard' CHECK (io_class IN ('standard','io')),"
	" sort INTEGER NOT NULL);"
	"INSERT INTO instance_types VALUES"
	" ('m1.small', 1, 128, 2, 'standard', 1), ('c1.medium', 1, 256, 5, 'standard', 2),"
	" ('m1.large', 2, 512, 10, 'io', 3), ('m1.xlarge', 2, 1024, 20, 'io', 4),"
	" ('c1.xlarge', 4, 2048, 20, 'io', 5);"
	/* Registered components; a cluster is an availability zone. */
	"CREATE TABLE services ("
	" kind TEXT NOT NULL CHECK (kind IN ('cluster','ebs','walrus')),"
	" name TEXT NOT NULL, host TEXT NOT NULL, port INTEGER NOT NULL,"
	" registered INTEGER NOT NULL, PRIMARY KEY (kind, name));"
	"CREATE TABLE nodes ("
	" cluster TEXT NOT NULL, host TEXT NOT NULL, registered INTEGER NOT NULL,"
	" PRIMARY KEY (cluster, host));";

/*
 * Bursting (burst*.c): remote EC2-compatible clouds registered as extra
 * zones.  The secret key lives here and nowhere else (never logged, never
 * answered).  A burst instance has an ordinary row in instances (a local
 * i- id, zone = the cloud's name) plus its remote id in remote_instances,
 * so local and remote ids never mix.  burst_identity tags what this cloud
 * launches remotely, so that an orphan (a launch whose answer was lost)
 * can be recognised and terminated without touching anything else in the
 * remote account.
 */
static const char schema_v2[] =
	"CREATE TABLE remote_clouds ("
	" name TEXT PRIMARY KEY, endpoint TEXT NOT NULL, region TEXT NOT NULL,"
	" access_key TEXT NOT NULL, secret_key TEXT NOT NULL,"
	" policy TEXT NOT NULL DEFAULT 'explicit' CHECK (policy IN ('explicit','overflow')),"
	" remote_zone TEXT, timeout INTEGER NOT NULL DEFAULT 20 CHECK (timeout > 0),"
	" registered INTEGER NOT NULL);"
	"CREATE TABLE remote_images ("
	" cloud TEXT NOT NULL REFERENCES remote_clouds(name) ON DELETE CASCADE,"
	" local_id TEXT NOT NULL, remote_id TEXT NOT NULL, PRIMARY KEY (cloud, local_id));"
	"CREATE TABLE remote_types ("
	" cloud TEXT NOT NULL REFERENCES remote_clouds(name) ON DELETE CASCADE,"
	" local_type TEXT NOT NULL, remote_type TEXT NOT NULL,"
	" PRIMARY KEY (cloud, local_type));"
	"CREATE TABLE remote_instances ("
	" id TEXT PRIMARY KEY REFERENCES instances(id) ON DELETE CASCADE,"
	" cloud TEXT NOT NULL, remote_id TEXT NOT NULL, UNIQUE (cloud, remote_id));"
	"CREATE TABLE burst_identity (id TEXT NOT NULL);"
	"INSERT INTO burst_identity VALUES (lower(hex(randomblob(8))));";

/*
 * How the CLC reaches a registered component: https (mutual TLS with the
 * cloud CA's certificates) or plain http, recorded by `karri register-*`
 * from its KARRI_INSECURE_HTTP.  Rows from before v3 were plain HTTP (the
 * daemons could not speak anything else then).
 */
static const char schema_v3[] =
	"ALTER TABLE services ADD COLUMN scheme TEXT NOT NULL DEFAULT 'http'"
	" CHECK (scheme IN ('http','https'));";

/*
 * Why a snapshot is in "error", as EBS reports it (its stateMessage): EC2
 * shows it as the snapshot's statusMessage.  NULL while there is none.
 */
static const char schema_v4[] =
	"ALTER TABLE snapshots ADD COLUMN state_message TEXT;";

/*
 * How an attached volume reached its guest, as the NC reported it in
 * ncAttachVolume and the CLC names it: 'kernel' (the node's AoE driver,
 * /dev/etherd), 'nbd' (Karri's userspace initiator), 'guest' (the guest's
 * own AoE driver) or 'file'.  Set on attach, NULL once detached; the owner
 * sees it as the volume's karri:path tag (action_tag.c).
 */
static const char schema_v5[] =
	"ALTER TABLE volumes ADD COLUMN attach_path TEXT;";

/*
 * Instance attributes EC2 lets the owner change while the instance runs
 * (action_instance_attr.c): termination protection (TerminateInstances
 * refuses a protected instance) and the source/destination check
 * (recorded; the CC does no anti-spoofing filtering).
 */
static const char schema_v6[] =
	"ALTER TABLE instances ADD COLUMN disable_api_termination INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE instances ADD COLUMN source_dest_check INTEGER NOT NULL DEFAULT 1;";

/*
 * Many clusters, each with its own EBS (AoE does not cross a router): the
 * zone an EBS serves ('' for a non-EBS row, and for an EBS registered
 * before zones mattered: it serves every zone that has no EBS of its own),
 * and the zone whose EBS made a snapshot (so that, without Walrus, the one
 * EBS that keeps it is asked to delete it).  An EBS of a cloud with exactly
 * one cluster becomes that cluster's; with none or several it stays
 * cloud-wide ('').  Snapshots take their volume's zone (NULL if it is gone:
 * the first EBS is asked, as before).
 */
static const char schema_v7[] =
	"ALTER TABLE services ADD COLUMN zone TEXT NOT NULL DEFAULT '';"
	"UPDATE services SET zone = (SELECT name FROM services WHERE kind = 'cluster')"
	" WHERE kind = 'ebs' AND (SELECT count(*) FROM services WHERE kind = 'cluster') = 1;"
	"ALTER TABLE snapshots ADD COLUMN zone TEXT;"
	"UPDATE snapshots SET zone = (SELECT zone FROM volumes v WHERE v.id = snapshots.volume_id);";

/*
 * DescribeInstances and RunInstances list instances by reservation, then
 * launch index: with launch_index in the indexes the rows come out of the
 * index in that order, where sqlite otherwise sorted every selected row
 * (a tenth of a DescribeInstances of 10,000 instances: docs/decisions.md).
 */
static const char schema_v8[] =
	"DROP INDEX instances_owner;"
	"CREATE INDEX instances_owner ON instances(owner, reservation_id, launch_index);"
	"DROP INDEX instances_reservation;"
	"CREATE INDEX instances_reservation ON instances(reservation_id, launch_index);";

static const struct kr_db_migration migrations[] = {
	{ 1, schema_v1 },
	{ 2, schema_v2 },
	{ 3, schema_v3 },
	{ 4, schema_v4 },
	{ 5, schema_v5 },
	{ 6, schema_v6 },
	{ 7, schema_v7 },
	{ 8, schema_v8 },
};

int
clc_db_open(const char *path, sqlite3 **out)
{
	return kr_db_open(path, migrations, sizeof(migrations) / sizeof(migrations[0]), out);
}
