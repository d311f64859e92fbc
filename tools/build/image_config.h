/* Image config changes from Dockerfile metadata instructions, shared by
 * `shale build` and `shale commit -c`. */
#ifndef SHALE_IMAGE_CONFIG_H
#define SHALE_IMAGE_CONFIG_H

#include <jansson.h>
#include <stddef.h>

#include "dockerfile.h"

/* Apply CMD, ENTRYPOINT, ENV, WORKDIR, EXPOSE, LABEL, USER, VOLUME, STOPSIGNAL,
 * SHELL, HEALTHCHECK, ONBUILD or MAINTAINER (already expanded) to an image
 * document ({"config": {...}, ...}), as Docker's builder does. Other
 * instructions are an error. Returns 0, or -1 with a message in err. */
int image_config_apply(json_t *image, const struct df_instruction *in, char *err, size_t errlen);

/* Parse and apply one `-c` change ("CMD [\"nginx\"]"), expanding variables with
 * the image's Env. */
int image_config_change(json_t *image, const char *change, char *err, size_t errlen);

/* An ENV-style lookup over a config's "Env" array (for df_expand_*). */
const char *image_config_env_lookup(void *config, const char *name);

#endif
