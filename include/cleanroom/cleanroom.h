/* cleanroom: the whole public API. */
#ifndef CLEANROOM_H
#define CLEANROOM_H
#include "common.h"
#include "repo.h"
#include "tree.h"
#include "snapshot.h"
#include "ops.h"
#include "hunt.h"
#include "image.h"
#include "probe.h"
#include "plan.h"
#include "recover.h"
#include "jobs.h"
#include "report.h"
#include "server.h"
#include "console.h"
#include "reconnect.h"
#endif
