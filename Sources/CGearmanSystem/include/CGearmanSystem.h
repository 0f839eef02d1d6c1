#ifndef C_GEARMAN_SYSTEM_H
#define C_GEARMAN_SYSTEM_H

#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <pthread.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <syslog.h>
#include <unistd.h>

// struct epoll_event is packed on x86_64, which Swift cannot import faithfully,
// so these two wrappers pass the 64-bit user data and the event mask separately.

/// Adds, modifies or removes `fd` in the epoll set; `data` is returned by cgs_epoll_wait.
static inline int cgs_epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t data) {
    struct epoll_event event;
    event.events = events;
    event.data.u64 = data;
    return epoll_ctl(epfd, op, fd, &event);
}

/// Waits like epoll_wait(2) and unpacks up to `max` events into two parallel arrays.
static inline int cgs_epoll_wait(int epfd, uint64_t *datas, uint32_t *events, int max, int timeout) {
    struct epoll_event buffer[256];
    if (max > 256) max = 256;
    int count = epoll_wait(epfd, buffer, max, timeout);
    for (int i = 0; i < count; i++) {
        datas[i] = buffer[i].data.u64;
        events[i] = buffer[i].events;
    }
    return count;
}

// accept4(2) is declared only under _GNU_SOURCE, which this header must not define because the
// Swift Glibc module sees the system headers without it; CGearmanSystem.c defines it instead.
int cgs_accept4(int fd, struct sockaddr *address, socklen_t *length, int flags);

// pipe2(2) likewise needs _GNU_SOURCE.
int cgs_pipe2(int fds[2], int flags);

/// The socket type flags as plain integers, since Glibc imports them as an enum.
static const int cgs_sock_stream = SOCK_STREAM;
static const int cgs_sock_nonblock = SOCK_NONBLOCK;
static const int cgs_sock_cloexec = SOCK_CLOEXEC;

// getopt_long(3) reports through globals that Swift 6 treats as unsafe shared state; these
// accessors read and reset them. Callers serialise parses with a lock.
static inline void cgs_getopt_reset(void) { optind = 0; opterr = 0; }
static inline int cgs_optind(void) { return optind; }
static inline int cgs_optopt(void) { return optopt; }
static inline const char *cgs_optarg(void) { return optarg; }

// environ is a global Swift 6 treats as unsafe shared state; posix_spawn(3) needs it read-only.
extern char **environ;
static inline char *const *cgs_environ(void) { return environ; }

// syslog(3) is variadic, which Swift cannot call; this passes the message as one "%s" argument.
static inline void cgs_syslog(int priority, const char *message) {
    syslog(priority, "%s", message);
}

// fork(2) is marked unavailable in Swift; gearmand --daemon calls it before any thread starts.
static inline pid_t cgs_fork(void) {
    return fork();
}

// errno is a macro over a thread-local, which Swift reads through Glibc but cannot assign on every libc.
static inline void cgs_set_errno(int value) {
    errno = value;
}


/// Initializes `mutex` as an adaptive mutex: a contended lock spins briefly in user space and
/// then waits on a plain futex. Swift's Mutex uses priority-inheritance futexes on Linux, whose
/// contended path always enters the kernel. The type needs _GNU_SOURCE, so this is defined in
/// CGearmanSystem.c.
int cgs_adaptive_mutex_init(pthread_mutex_t *mutex);

#endif
