#define _GNU_SOURCE
#include <sys/socket.h>
#include <unistd.h>

#include "CGearmanSystem.h"

int cgs_accept4(int fd, struct sockaddr *address, socklen_t *length, int flags) {
    return accept4(fd, address, length, flags);
}

int cgs_pipe2(int fds[2], int flags) {
    return pipe2(fds, flags);
}
