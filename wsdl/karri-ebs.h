/*
 * karri-ebs.h - the elastic block storage contract (CLC -> EBS).
 *
 * Volume and snapshot ids are chosen by the CLC; AoE shelf.slot numbers are
 * allocated by EBS itself (never by probing the network) and returned by
 * ExportVolume.
 *
 * Errors: every operation answers HTTP 200; a refusal is return=false with
 * statusMessage "Code: message", the code an EC2 error name the CLC can pass
 * on: InvalidParameterValue, InvalidVolume.NotFound, InvalidVolume.Duplicate,
 * InvalidSnapshot.NotFound, InvalidSnapshot.Duplicate, VolumeInUse,
 * IncorrectState, VolumeLimitExceeded (over EBS_MAX_VOLUME_SIZE),
 * InsufficientCapacity (over EBS_MAX_TOTAL_SIZE or the free space),
 * InvalidConfiguration (no EBS_STORAGE_INTERFACE), InternalError.  SOAP
 * faults are only for requests gSOAP cannot read.
 *
 * Retries are safe: CreateVolume and CreateSnapshot with an id that exists
 * and matches answer success; ExportVolume of an exported volume keeps its
 * address and replaces its MACs; UnexportVolume of an unexported one succeeds.
 * CreateSnapshot answers once the copy is complete (status "completed").
 *
 * Snapshots in Walrus.  EBS holds no Walrus keys: the CLC presigns the
 * requests and passes the URLs.  A snapshot is stored as one object per
 * EBS_SNAPSHOT_SEGMENT_GIB of the volume (a single S3 PUT is at most
 * 5 GiB), so snapshotUrls has ceil(size / EBS_SNAPSHOT_SEGMENT_GIB)
 * entries, entry i for the bytes [i, i+1) * EBS_SNAPSHOT_SEGMENT_GIB GiB;
 * a volume of up to 4 GiB is one object holding exactly its bytes.
 *   CreateSnapshot with snapshotUrls (PUT; bucketUrl, optional, a PUT that
 *     creates the bucket, an already owned bucket being fine): the
 *     point-in-time copy is taken before the answer, as without URLs; the
 *     answer says "pending" and the copy is uploaded in the background, then
 *     removed: "completed", or "error" with stateMessage saying why (the
 *     local copy is removed either way).  progress follows the upload.
 *   CreateVolume with snapshotUrls (GET): the volume answers "creating", is
 *     pre-allocated and filled in the background, then "available" (or
 *     "error" with stateMessage).  size is needed when this EBS has no
 *     record of the snapshot (it was made elsewhere).
 *   DeleteSnapshot with snapshotUrls (DELETE): the objects are removed
 *     (a missing one is fine) before the record; a snapshot in Walrus cannot
 *     be deleted without them.
 * Without snapshotUrls everything stays local, as before.  A snapshot this
 * EBS keeps locally ignores the URLs of CreateVolume and DeleteSnapshot.
 */

#import "karri-types.h"

#define EBS_SNAPSHOT_SEGMENT_GIB 4	/* GiB of a volume per snapshot object */

//gsoap ebs service name: ebs
//gsoap ebs service namespace: urn:karri:ebs:2026-11
//gsoap ebs service style: document
//gsoap ebs service encoding: literal
//gsoap ebs schema namespace: urn:karri:ebs:2026-11
//gsoap ebs schema form: qualified

struct ebs__volumeType {
	char *volumeId;
	int size;			/* GiB */
	char *snapshotId;		/* the snapshot it was made from, if any */
	char *status;			/* creating, available, in-use, deleting, error */
	long createTime;
	int shelf;			/* AoE address while exported, else -1 */
	int slot;
	int __sizeallowedMacs;
	char **allowedMacs;
	char *stateMessage;		/* why it is "error" */
};

struct ebs__snapshotType {
	char *snapshotId;
	char *volumeId;
	int volumeSize;			/* GiB */
	char *status;			/* pending, completed, error */
	char *progress;			/* "42%" */
	long startTime;
	char *stateMessage;		/* why it is "error" */
};

struct _ebs__CreateVolume {
	char *correlationId;
	char *userId;
	char *volumeId;
	int size;			/* GiB; 0 with snapshotId: the snapshot's size */
	char *snapshotId;
	int __sizesnapshotUrls;
	char **snapshotUrls;		/* presigned GETs of the snapshot's objects */
};
struct _ebs__CreateVolumeResponse {
	char *correlationId;
	char *userId;
	enum xsd__boolean _return;
	char *statusMessage;
	struct ebs__volumeType *volume;
};

struct _ebs__DeleteVolume {
	char *correlationId;
	char *userId;
	char *volumeId;
};
struct _ebs__DeleteVolumeResponse {
	char *correlationId;
	char *userId;
	enum xsd__boolean _return;
	char *statusMessage;
};

struct _ebs__DescribeVolumes {
	char *correlationId;
	char *userId;
	int __sizevolumeIds;
	char **volumeIds;
};
struct _ebs__DescribeVolumesResponse {
	char *correlationId;
	char *userId;
	enum xsd__boolean _return;
	char *statusMessage;
	int __sizevolumes;
	struct ebs__volumeType *volumes;
};

struct _ebs__ExportVolume {
	char *correlationId;
	char *userId;
	char *volumeId;
	int __sizeallowedMacs;
	char **allowedMacs;		/* initiators allowed to read and write: 1..16 unicast MACs */
};
struct _ebs__ExportVolumeResponse {
	char *correlationId;
	char *userId;
	enum xsd__boolean _return;
	char *statusMessage;
	int shelf;
	int slot;
	char *interface;		/* storage NIC of the target */
	char *targetMac;
	int mtu;
};

struct _ebs__UnexportVolume {
	char *correlationId;
	char *userId;
	char *volumeId;
};
struct _ebs__UnexportVolumeResponse {
	char *correlationId;
	char *userId;
	enum xsd__boolean _return;
	char *statusMessage;
};

struct _ebs__CreateSnapshot {
	char *correlationId;
	char *userId;
	char *volumeId;
	char *snapshotId;
	char *bucketUrl;		/* presigned PUT creating the bucket, or NULL */
	int __sizesnapshotUrls;
	char **snapshotUrls;		/* presigned PUTs of the snapshot's objects */
};
struct _ebs__CreateSnapshotResponse {
	char *correlationId;
	char *userId;
	enum xsd__boolean _return;
	char *statusMessage;
	struct ebs__snapshotType *snapshot;
};

struct _ebs__DeleteSnapshot {
	char *correlationId;
	char *userId;
	char *snapshotId;
	int __sizesnapshotUrls;
	char **snapshotUrls;		/* presigned DELETEs of the snapshot's objects */
};
struct _ebs__DeleteSnapshotResponse {
	char *correlationId;
	char *userId;
	enum xsd__boolean _return;
	char *statusMessage;
};

struct _ebs__DescribeSnapshots {
	char *correlationId;
	char *userId;
	int __sizesnapshotIds;
	char **snapshotIds;
};
struct _ebs__DescribeSnapshotsResponse {
	char *correlationId;
	char *userId;
	enum xsd__boolean _return;
	char *statusMessage;
	int __sizesnapshots;
	struct ebs__snapshotType *snapshots;
};

//gsoap ebs service method-action: CreateVolume "urn:karri:ebs#CreateVolume"
int __ebs__CreateVolume(struct _ebs__CreateVolume *ebs__CreateVolume, struct _ebs__CreateVolumeResponse *ebs__CreateVolumeResponse);
//gsoap ebs service method-action: DeleteVolume "urn:karri:ebs#DeleteVolume"
int __ebs__DeleteVolume(struct _ebs__DeleteVolume *ebs__DeleteVolume, struct _ebs__DeleteVolumeResponse *ebs__DeleteVolumeResponse);
//gsoap ebs service method-action: DescribeVolumes "urn:karri:ebs#DescribeVolumes"
int __ebs__DescribeVolumes(struct _ebs__DescribeVolumes *ebs__DescribeVolumes, struct _ebs__DescribeVolumesResponse *ebs__DescribeVolumesResponse);
//gsoap ebs service method-action: ExportVolume "urn:karri:ebs#ExportVolume"
int __ebs__ExportVolume(struct _ebs__ExportVolume *ebs__ExportVolume, struct _ebs__ExportVolumeResponse *ebs__ExportVolumeResponse);
//gsoap ebs service method-action: UnexportVolume "urn:karri:ebs#UnexportVolume"
int __ebs__UnexportVolume(struct _ebs__UnexportVolume *ebs__UnexportVolume, struct _ebs__UnexportVolumeResponse *ebs__UnexportVolumeResponse);
//gsoap ebs service method-action: CreateSnapshot "urn:karri:ebs#CreateSnapshot"
int __ebs__CreateSnapshot(struct _ebs__CreateSnapshot *ebs__CreateSnapshot, struct _ebs__CreateSnapshotResponse *ebs__CreateSnapshotResponse);
//gsoap ebs service method-action: DeleteSnapshot "urn:karri:ebs#DeleteSnapshot"
int __ebs__DeleteSnapshot(struct _ebs__DeleteSnapshot *ebs__DeleteSnapshot, struct _ebs__DeleteSnapshotResponse *ebs__DeleteSnapshotResponse);
//gsoap ebs service method-action: DescribeSnapshots "urn:karri:ebs#DescribeSnapshots"
int __ebs__DescribeSnapshots(struct _ebs__DescribeSnapshots *ebs__DescribeSnapshots, struct _ebs__DescribeSnapshotsResponse *ebs__DescribeSnapshotsResponse);
