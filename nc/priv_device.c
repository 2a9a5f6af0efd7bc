/*
 * priv_device.c - the spare devices of NC_PHY_DEVICES, filled with an
 * instance's image and wiped after it, by the privileged parent for the
 * unprivileged child (NC_PRIVSEP=Y), or by the NC itself when it is one
 * process.
 *
 * A block device is root's; the child keeps the pool (which device is
 * whose, phydev.c) and names one, and the parent acts only on a device of
 * its own reading of NC_PHY_DEVICES, filling it only from the instance's
 * base image (a plain file in the instance directory, never a path the
 * child gives).
 */
#include <string.h>

#include "core/error.h"
#include "core/log.h"
#include "nc.h"

bool
nc_priv_device_check(const struct nc_priv_device *r)
{
	char **spares = NULL;
	size_t n;
	bool ok = false;

	if (nc_priv_id_ok(r->id, sizeof(r->id)) && memchr(r->dev, '\0', sizeof(r->dev))) {
		n = kr_config_list(nc_node.cfg, "NC_PHY_DEVICES", &spares);
		for (size_t i = 0; i < n && !ok; i++)
			ok = strcmp(spares[i], r->dev) == 0;
		kr_config_list_free(spares, n);
	}
	if (!ok) {
		kr_log_warnx("privsep: device request refused: not an instance id and a device of "
		    "NC_PHY_DEVICES");
		kr_error("InvalidParameterValue", "not a device of NC_PHY_DEVICES");
	}
	return ok;
}

int
nc_priv_device_fill_run(const struct nc_priv_device *r)
{
	char base[NC_PATH_MAX], real[NC_PATH_MAX];

	if (nc_priv_instance_file(r->id, "base", base, sizeof(base), real, sizeof(real)) < 0)
		return -1;
	return nc_disk_copy(real, r->dev);
}

int
nc_priv_device_wipe_run(const struct nc_priv_device *r)
{
	return nc_disk_wipe_device(r->dev);
}
