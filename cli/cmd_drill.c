/*
 * cleanroom drill: rehearse a recovery plan below a scratch folder, measure
 * the real RTO of every service and tier, and clean up. The code is shared
 * with `cleanroom recover` (cmd_recover.c); the differences are in
 * cr_recover_run (include/cleanroom/recover.h: options drill, scratch, keep).
 */
#include "common.h"

int cmd_drill(int argc, char **argv)
{
    return cli_recover_main(argc, argv, 1);
}
