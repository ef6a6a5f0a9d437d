/* A 64-byte UDP ping-pong between two processes: the floor under any request/answer
 * between two hosts, and what waiting for a datagram costs depending on how a process
 * waits (docs/machine-limits.md, "Busy polling").
 *
 *   gcc -O2 -o pp docs/experiments/udp-pingpong.c
 *   . scripts/netns.sh; netns_up pp 2                 # root: two hosts on one bridge
 *   ip netns exec pph2 ./pp server 9000 epoll &
 *   ip netns exec pph1 ./pp client 10.88.0.2 9000 20000 epoll
 *   netns_down pp 2
 *
 * MODE: epoll   waits in epoll_wait (as tokio does),
 *       spin    polls with non-blocking recvfrom until the datagram is there,
 *       hybrid  polls for up to 200 us, then waits in epoll_wait (as the runtime does).
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

enum mode { EPOLL, SPIN, HYBRID };

static enum mode mode_of(const char *m) {
    return !strcmp(m, "spin") ? SPIN : !strcmp(m, "hybrid") ? HYBRID : EPOLL;
}

/* Receives one datagram into buf, waiting as `mode` says. */
static int receive(int fd, int ep, enum mode mode, char *buf, struct sockaddr_in *from) {
    double polled_since = now();
    for (;;) {
        socklen_t len = sizeof *from;
        int n = recvfrom(fd, buf, 64, MSG_DONTWAIT, (struct sockaddr *)from, &len);
        if (n >= 0) return n;
        if (mode == SPIN || (mode == HYBRID && now() - polled_since < 200e-6)) continue;
        struct epoll_event e;
        epoll_wait(ep, &e, 1, -1);
        polled_since = now();
    }
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: %s server PORT MODE | client IP PORT N MODE\n", argv[0]);
        return 2;
    }
    int fd = socket(AF_INET, SOCK_DGRAM, 0), ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN | EPOLLET};
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    char buf[64] = {0};
    struct sockaddr_in addr = {.sin_family = AF_INET}, from;
    if (!strcmp(argv[1], "server")) {
        addr.sin_port = htons(atoi(argv[2]));
        if (bind(fd, (struct sockaddr *)&addr, sizeof addr)) return perror("bind"), 1;
        enum mode mode = mode_of(argv[3]);
        for (;;) {
            int n = receive(fd, ep, mode, buf, &from);
            sendto(fd, buf, n, 0, (struct sockaddr *)&from, sizeof from);
        }
    }
    if (argc < 6) return 2;
    addr.sin_port = htons(atoi(argv[3]));
    inet_pton(AF_INET, argv[2], &addr.sin_addr);
    int rounds = atoi(argv[4]);
    enum mode mode = mode_of(argv[5]);
    double t0 = now();
    for (int i = 0; i < rounds; i++) {
        sendto(fd, buf, 64, 0, (struct sockaddr *)&addr, sizeof addr);
        receive(fd, ep, mode, buf, &from);
    }
    double dt = now() - t0;
    printf("%s: %.0f round trips/s (%.1f us each)\n", argv[5], rounds / dt, dt / rounds * 1e6);
    return 0;
}
