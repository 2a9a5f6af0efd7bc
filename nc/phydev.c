/*
 * phydev.c - the pool of spare block devices an admin gave the NC
 * (NC_PHY_DEVICES) for whole-device root disks.
 *
 * A device is either free or used by one instance; which ones are used is
 * rebuilt at start from the instances' metadata (nc_phy_mark).  Devices
 * that are not block devices are left out of the pool with a warning.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "core/error.h"
#include "core/log.h"
#include "nc.h"

#define PHY_MAX 64

static struct {
	pthread_mutex_t lock;
	int n;
	char dev[PHY_MAX][NC_PATH_MAX];
	bool used[PHY_MAX];
} pool = { .lock = PTHREAD_MUTEX_INITIALIZER };

int
nc_phy_init(const struct kr_config *cfg)
{
	char **items = NULL;
	size_t n = kr_config_list(cfg, "NC_PHY_DEVICES", &items);

	pool.n = 0;
	for (size_t i = 0; i < n && pool.n < PHY_MAX; i++) {
		struct stat st;

		if (stat(items[i], &st) < 0 || !S_ISBLK(st.st_mode)) {
			kr_log_warnx("NC_PHY_DEVICES: %s is not a block device, not used", items[i]);
			continue;
		}
		snprintf(pool.dev[pool.n], NC_PATH_MAX, "%s", items[i]);
		pool.used[pool.n++] = false;
	}
	kr_config_list_free(items, n);
	if (pool.n)
		kr_log_info("%d spare devices for phy disks", pool.n);
	return 0;
}

int
nc_phy_claim(char *dev, size_t len)
{
	int rc = -1;

	pthread_mutex_lock(&pool.lock);
	for (int i = 0; i < pool.n; i++) {
		if (!pool.used[i]) {
			pool.used[i] = true;
			snprintf(dev, len, "%s", pool.dev[i]);
			rc = 0;
			break;
		}
	}
	pthread_mutex_unlock(&pool.lock);
	if (rc < 0)
		kr_error("InsufficientInstanceCapacity", "no spare device free");
	return rc;
}

static int
index_of(const char *dev)
{
	for (int i = 0; i < pool.n; i++)
		if (strcmp(pool.dev[i], dev) == 0)
			return i;
	return -1;
}

int
nc_phy_mark(const char *dev)
{
	int i;

	pthread_mutex_lock(&pool.lock);
	i = index_of(dev);
	if (i >= 0)
		pool.used[i] = true;
	pthread_mutex_unlock(&pool.lock);
	return i >= 0 ? 0 : -1;
}

void
nc_phy_release(const char *dev)
{
	int i;

	pthread_mutex_lock(&pool.lock);
	i = index_of(dev);
	if (i >= 0)
		pool.used[i] = false;
	pthread_mutex_unlock(&pool.lock);
}

int
nc_phy_free_count(void)
{
	int n = 0;

	pthread_mutex_lock(&pool.lock);
	for (int i = 0; i < pool.n; i++)
		n += !pool.used[i];
	pthread_mutex_unlock(&pool.lock);
	return n;
}
