/* Open-loop HTTP/1.1 load generator (wrk2-style constant arrival rate) for the serving benchmarks.
 *
 * Request i is due at start + i / rate. It goes out on an idle keep-alive connection at its due time, or as
 * soon as one frees up (a late send, measured). Latency runs from the actual send to the last byte of the
 * answer. One thread, epoll, edge cases kept simple: the body length comes from Content-Length.
 *
 *   openloop HOST PORT RATE SECONDS CONNS REQUEST_FILE OUT_FILE
 *
 * OUT_FILE gets one record per scheduled request, three doubles: latency (s, NaN when unanswered), lateness
 * of the send (s), status code. The Python side (loadgen.py) turns them into percentiles.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    int fd;
    long index; /* request in flight, -1 when idle */
    double sent;
    char buf[65536];
    size_t len;
} conn_t;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int connect_to(const char *host, int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, host, &a.sin_addr);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

/* Length of a complete response at the start of buf (0 while incomplete); its status in *status. */
static size_t complete(const char *buf, size_t len, int *status) {
    const char *end = memmem(buf, len, "\r\n\r\n", 4);
    if (!end) return 0;
    size_t head = (size_t)(end - buf) + 4, body = 0;
    for (const char *p = buf; p < end; p++) {
        if ((p == buf || p[-1] == '\n') && strncasecmp(p, "content-length:", 15) == 0) {
            body = strtoul(p + 15, NULL, 10);
            break;
        }
    }
    if (len < head + body) return 0;
    *status = (len >= 12) ? atoi(buf + 9) : 0;
    return head + body;
}

int main(int argc, char **argv) {
    if (argc != 8) {
        fprintf(stderr, "usage: openloop HOST PORT RATE SECONDS CONNS REQUEST_FILE OUT_FILE\n");
        return 2;
    }
    const char *host = argv[1];
    int port = atoi(argv[2]), nconn = atoi(argv[5]);
    double rate = atof(argv[3]), seconds = atof(argv[4]);
    long n = (long)(rate * seconds);
    if (n < 1) n = 1;
    FILE *rf = fopen(argv[6], "rb");
    if (!rf) { perror("request file"); return 2; }
    static char req[65536];
    size_t reqlen = fread(req, 1, sizeof req, rf);
    fclose(rf);

    double *out = malloc(sizeof(double) * 3 * n);
    for (long i = 0; i < n; i++) { out[3 * i] = NAN; out[3 * i + 1] = 0; out[3 * i + 2] = 0; }
    conn_t *conns = calloc(nconn, sizeof(conn_t));
    int *idle = malloc(sizeof(int) * nconn), nidle = 0;
    long *backlog = malloc(sizeof(long) * n), bhead = 0, btail = 0;
    int ep = epoll_create1(0);
    for (int c = 0; c < nconn; c++) {
        conns[c].fd = connect_to(host, port);
        if (conns[c].fd < 0) { perror("connect"); return 1; }
        conns[c].index = -1;
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)c};
        epoll_ctl(ep, EPOLL_CTL_ADD, conns[c].fd, &ev);
        idle[nidle++] = c;
    }
    double start = now() + 0.2, hard_stop = start + n / rate + 2.0;
    long next = 0, outstanding = 0;
    struct epoll_event evs[256];

#define SEND(c, i)                                                                  \
    do {                                                                            \
        double t_ = now();                                                          \
        conns[c].index = (i);                                                       \
        conns[c].sent = t_;                                                         \
        out[3 * (i) + 1] = t_ - (start + (i) / rate);                               \
        if (write(conns[c].fd, req, reqlen) != (ssize_t)reqlen) conns[c].index = -2; \
        outstanding++;                                                              \
    } while (0)

    for (;;) {
        double t = now();
        if (t > hard_stop) break;
        while (next < n && start + next / rate <= t) { /* everything due goes out now */
            if (nidle) {
                int c = idle[--nidle];
                SEND(c, next);
            } else {
                backlog[btail++] = next;
            }
            next++;
        }
        if (next >= n && outstanding == 0 && bhead == btail) break;
        double wait = next < n ? start + next / rate - now() : 0.05;
        if (wait < 0) wait = 0;
        struct timespec to = {.tv_sec = (time_t)wait, .tv_nsec = (long)((wait - (time_t)wait) * 1e9)};
        int k = epoll_pwait2(ep, evs, 256, &to, NULL);
        if (k < 0 && errno != EINTR) { perror("epoll"); return 1; }
        for (int e = 0; e < k; e++) {
            conn_t *cn = &conns[evs[e].data.u32];
            ssize_t r = read(cn->fd, cn->buf + cn->len, sizeof cn->buf - cn->len);
            if (r <= 0) {
                if (r < 0 && errno == EAGAIN) continue;
                epoll_ctl(ep, EPOLL_CTL_DEL, cn->fd, NULL); /* closed by the server: lost */
                if (cn->index >= 0) outstanding--;
                cn->index = -3;
                continue;
            }
            cn->len += (size_t)r;
            int status;
            size_t used;
            while (cn->index >= 0 && (used = complete(cn->buf, cn->len, &status)) > 0) {
                double done = now();
                out[3 * cn->index] = done - cn->sent;
                out[3 * cn->index + 2] = status;
                memmove(cn->buf, cn->buf + used, cn->len - used);
                cn->len -= used;
                outstanding--;
                cn->index = -1;
                int c = (int)(cn - conns);
                if (bhead < btail && done <= hard_stop) {
                    SEND(c, backlog[bhead]);
                    bhead++;
                } else {
                    idle[nidle++] = c;
                }
            }
        }
    }
    FILE *of = fopen(argv[7], "wb");
    if (!of) { perror("out file"); return 2; }
    fwrite(out, sizeof(double), 3 * n, of);
    fclose(of);
    printf("%.9f %.9f %.9f\n", start, now(), hard_stop);
    return 0;
}
