/*
 * config.c - fuzz the karri.conf parser (common/core/config.c): the file is
 * written as given and loaded with Karri's own key table, as every daemon
 * does at start (kr_config_load), then every key is read back typed.
 */
#include "core/config.h"
#include "fuzz.h"

static char path[600];

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	fz_quiet();
	snprintf(path, sizeof(path), "%s/karri.conf", fz_tmpdir());
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kr_config *cfg;
	FILE *f = fopen(path, "w");

	if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0)
		abort();
	cfg = kr_config_load(path, kr_config_keys);
	if (cfg) {
		for (const struct kr_cfg_key *k = kr_config_keys; k->name; k++) {
			char **items;
			size_t n;

			(void)kr_config_get(cfg, k->name);
			(void)kr_config_source(cfg, k->name);
			n = kr_config_list(cfg, k->name, &items);
			kr_config_list_free(items, n);
		}
		free(kr_config_home_path(cfg, "var/lib/karri"));
	}
	kr_config_free(cfg);
	return 0;
}
