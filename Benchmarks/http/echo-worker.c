/* echo-worker: a libgearman worker for the HTTP benchmarks. It registers `echo`, which returns
 * its workload as the result, and `noop`, which returns an empty result, so the same worker
 * serves the C gearmand and ours.
 *
 *   cc -O2 -o echo-worker echo-worker.c -lgearman
 *   ./echo-worker PORT
 *
 * It connects to 127.0.0.1 only and runs until it is killed.
 */
#include <libgearman/gearman.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *echo(gearman_job_st *job, void *context, size_t *result_size, gearman_return_t *ret)
{
    (void)context;
    size_t size = gearman_job_workload_size(job);
    void *result = malloc(size > 0 ? size : 1);
    if (result == NULL) {
        *ret = GEARMAN_WORK_FAIL;
        return NULL;
    }
    memcpy(result, gearman_job_workload(job), size);
    *result_size = size;
    *ret = GEARMAN_SUCCESS;
    return result;
}

static void *noop(gearman_job_st *job, void *context, size_t *result_size, gearman_return_t *ret)
{
    (void)job;
    (void)context;
    *result_size = 0;
    *ret = GEARMAN_SUCCESS;
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: echo-worker PORT\n");
        return 2;
    }
    gearman_worker_st *worker = gearman_worker_create(NULL);
    if (worker == NULL) {
        fprintf(stderr, "echo-worker: gearman_worker_create failed\n");
        return 1;
    }
    if (gearman_worker_add_server(worker, "127.0.0.1", (in_port_t)atoi(argv[1])) != GEARMAN_SUCCESS ||
        gearman_worker_add_function(worker, "echo", 0, echo, NULL) != GEARMAN_SUCCESS ||
        gearman_worker_add_function(worker, "noop", 0, noop, NULL) != GEARMAN_SUCCESS) {
        fprintf(stderr, "echo-worker: %s\n", gearman_worker_error(worker));
        return 1;
    }
    for (;;) {
        gearman_return_t ret = gearman_worker_work(worker);
        if (ret != GEARMAN_SUCCESS) {
            fprintf(stderr, "echo-worker: %s\n", gearman_worker_error(worker));
            return 1;
        }
    }
}
