/*
 * Starting and ending MPI, and agreeing on a status: the collective points
 * at which one rank's error becomes every rank's (so no rank waits forever
 * for a partner that gave up).
 */
#if GAT_HAVE_MPI
#include "dist.h"
#else
#include "partition.h"
#endif

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool gat_have_mpi(void) { return GAT_HAVE_MPI; }

bool gat_dist_launched(void)
{
    static const char *const names[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK",
                                        "MPI_LOCALNRANKS"};
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++)
        if (getenv(names[k]) != NULL)
            return true;
    return false;
}

void gat_dist_infer_options_init(gat_dist_infer_options *options)
{
    memset(options, 0, sizeof *options);
    options->preprocess = true;
}

void gat_dist_train_options_init(gat_dist_train_options *options)
{
    memset(options, 0, sizeof *options);
    options->preprocess = true;
}

#if GAT_HAVE_MPI

gat_status gat__dist_mpi_fail(gat_context *ctx, int code, const char *call)
{
    char text[MPI_MAX_ERROR_STRING];
    int length = 0;
    if (MPI_Error_string(code, text, &length) != MPI_SUCCESS)
        snprintf(text, sizeof text, "error %d", code);
    return gat__fail(ctx, GAT_ERR_IO, "MPI: %s failed: %s", call, text);
}

gat_status gat_dist_init(gat_context *ctx, int *rank, int *ranks)
{
    if (ctx == NULL || rank == NULL || ranks == NULL)
        return gat__fail(ctx, GAT_ERR_INVALID, "gat_dist_init: NULL argument");
    gat__clear_message(ctx);
    int started = 0, code = MPI_Initialized(&started);
    if (code == MPI_SUCCESS && !started) {
        int provided;
        code = MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided);
    }
    if (code != MPI_SUCCESS)
        return gat__dist_mpi_fail(ctx, code, "MPI_Init_thread");
    /* Errors come back as codes (and become messages), not aborts. */
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, rank);
    MPI_Comm_size(MPI_COMM_WORLD, ranks);
    return GAT_OK;
}

void gat_dist_finalize(void)
{
    int started = 0, finished = 0;
    MPI_Initialized(&started);
    MPI_Finalized(&finished);
    if (started && !finished)
        MPI_Finalize();
}

gat_status gat__dist_agree(gat_context *ctx, MPI_Comm comm, gat_status status)
{
    int rank, ranks;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &ranks);
    int mine = status != GAT_OK ? rank : ranks, first = ranks;
    int code = MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, comm);
    if (code != MPI_SUCCESS)
        return gat__dist_mpi_fail(ctx, code, "MPI_Allreduce (agreeing on a status)");
    if (first == ranks)
        return GAT_OK;
    struct {
        int status;
        char message[GAT_MESSAGE_SIZE];
    } failure;
    memset(&failure, 0, sizeof failure);
    if (rank == first) {
        failure.status = (int)status;
        snprintf(failure.message, sizeof failure.message, "%s", ctx->message);
    }
    code = MPI_Bcast(&failure, (int)sizeof failure, MPI_BYTE, first, comm);
    if (code != MPI_SUCCESS)
        return gat__dist_mpi_fail(ctx, code, "MPI_Bcast (a failing rank's message)");
    return gat__fail(ctx, (gat_status)failure.status, "rank %d of %d: %s", first, ranks,
                     failure.message);
}

gat_status gat_dist_agree(gat_context *ctx, gat_status status)
{
    if (ctx == NULL)
        return GAT_ERR_INVALID;
    return gat__dist_agree(ctx, MPI_COMM_WORLD, status);
}

gat_status gat_dist_gather_reports(gat_context *ctx, const gat_dist_report *mine,
                                   gat_dist_report *all)
{
    if (ctx == NULL)
        return GAT_ERR_INVALID;
    gat__clear_message(ctx);
    if (mine == NULL)
        return gat__fail(ctx, GAT_ERR_INVALID, "gat_dist_gather_reports: NULL report");
    /* Plain bytes: every rank runs the same build. */
    int code = MPI_Gather(mine, (int)sizeof *mine, MPI_BYTE, all, (int)sizeof *mine, MPI_BYTE,
                          0, MPI_COMM_WORLD);
    return code == MPI_SUCCESS ? GAT_OK : gat__dist_mpi_fail(ctx, code, "MPI_Gather (reports)");
}

#else /* no MPI back end in this build */

static gat_status no_mpi(gat_context *ctx, const char *function)
{
    return gat__fail(ctx, GAT_ERR_UNSUPPORTED,
                     "%s: this libgat was built without MPI (meson setup -Dmpi=enabled)",
                     function);
}

gat_status gat_dist_init(gat_context *ctx, int *rank, int *ranks)
{
    (void)rank;
    (void)ranks;
    return no_mpi(ctx, "gat_dist_init");
}

void gat_dist_finalize(void) {}

gat_status gat_dist_agree(gat_context *ctx, gat_status status)
{
    (void)status;
    return no_mpi(ctx, "gat_dist_agree");
}

gat_status gat_dist_gather_reports(gat_context *ctx, const gat_dist_report *mine,
                                   gat_dist_report *all)
{
    (void)mine;
    (void)all;
    return no_mpi(ctx, "gat_dist_gather_reports");
}

gat_status gat_dist_infer(gat_context *ctx, const gat_model *model,
                          const gat_dist_infer_options *options, gat_dist_report *report)
{
    (void)model;
    (void)options;
    (void)report;
    return no_mpi(ctx, "gat_dist_infer");
}

gat_status gat_dist_trainer_create(gat_context *ctx, gat_dist_trainer **trainer,
                                   gat_model *model, const gat_dist_train_options *options,
                                   const gat_trainer_options *train_options)
{
    (void)model;
    (void)options;
    (void)train_options;
    if (trainer != NULL)
        *trainer = NULL;
    return no_mpi(ctx, "gat_dist_trainer_create");
}

void gat_dist_trainer_destroy(gat_dist_trainer **trainer) { (void)trainer; }

gat_status gat_dist_trainer_gradients_step(gat_context *ctx, gat_dist_trainer *trainer,
                                           const int64_t *labels, const int64_t *index,
                                           int64_t count, gat_metrics *train)
{
    (void)trainer;
    (void)labels;
    (void)index;
    (void)count;
    (void)train;
    return no_mpi(ctx, "gat_dist_trainer_gradients_step");
}

gat_status gat_dist_trainer_gradients(gat_dist_trainer *trainer, int layer,
                                      gat_layer_params *gradients)
{
    (void)trainer;
    (void)layer;
    (void)gradients;
    return GAT_ERR_UNSUPPORTED;
}

gat_status gat_dist_trainer_update(gat_context *ctx, gat_dist_trainer *trainer)
{
    (void)trainer;
    return no_mpi(ctx, "gat_dist_trainer_update");
}

gat_status gat_dist_trainer_evaluate(gat_context *ctx, gat_dist_trainer *trainer,
                                     const int64_t *labels, const int64_t *index, int64_t count,
                                     gat_metrics *metrics)
{
    (void)trainer;
    (void)labels;
    (void)index;
    (void)count;
    (void)metrics;
    return no_mpi(ctx, "gat_dist_trainer_evaluate");
}

gat_status gat_dist_trainer_fit(gat_context *ctx, gat_dist_trainer *trainer,
                                const int64_t *labels, const int64_t *train_index,
                                int64_t train_count, const int64_t *val_index, int64_t val_count,
                                const gat_fit_options *options, gat_fit_result *result)
{
    (void)trainer;
    (void)labels;
    (void)train_index;
    (void)train_count;
    (void)val_index;
    (void)val_count;
    (void)options;
    (void)result;
    return no_mpi(ctx, "gat_dist_trainer_fit");
}

bool gat_dist_trainer_sparse_input(const gat_dist_trainer *trainer)
{
    (void)trainer;
    return false;
}

gat_status gat_dist_trainer_report(const gat_dist_trainer *trainer, gat_dist_report *report)
{
    (void)trainer;
    (void)report;
    return GAT_ERR_UNSUPPORTED;
}

#endif
