/* AT load generator for benchmarks/bench_virtual_modem.py: many AT clients from one epoll loop.

   at_load PATHS_FILE [--bare]

   PATHS_FILE holds one endpoint a line: a pty's path (/dev/pts/N) or socket://127.0.0.1:PORT.
   Every endpoint is opened (a pty in raw mode, a TCP connection with TCP_NODELAY) and sent ATE0;
   once every one has answered, "ready" is printed and two times are read from stdin, "T0 T1"
   (seconds since the epoch): until T1 each client keeps exactly one command outstanding, as an AT
   client polling its modem does: it sends the next command of the mix only when the final result
   of the last one has arrived.  Commands answered in [T0, T1) are counted per client.

   Every answer is checked byte by byte against what the command must give:
     AT         -> \r\nOK\r\n
     AT+CSQ     -> \r\n+CSQ: <text>\r\n\r\nOK\r\n  (likewise +CREG, +CGATT, +COPS, +CGREG)
   With --bare (the do-nothing responder that answers every line with OK) every answer must be
   \r\nOK\r\n.  An answer that differs is counted as wrong (the first one is printed to stderr).

   Output (stdout) after T1:
     wrong N          answers that differed from the expected bytes, in [T0, T1)
     cpu SECONDS      this process's CPU time (user + system) from T0 to the end
     counts C1 C2 ... commands answered per client, in the order of PATHS_FILE
   Exit status 2 with one line on stderr when an endpoint cannot be opened. */

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define BUF 1024
#define EVENTS 1024

static const char *const MIX[] = {"AT\r", "AT+CSQ\r", "AT+CREG?\r", "AT+CGATT?\r", "AT+COPS?\r", "AT+CGREG?\r"};
/* the information line each command of MIX answers with before OK ("" : none) */
static const char *const INFO[] = {"", "+CSQ: ", "+CREG: ", "+CGATT: ", "+COPS: ", "+CGREG: "};
#define NMIX (sizeof MIX / sizeof MIX[0])

struct client {
    int fd;
    unsigned step; /* commands answered so far; the next one is MIX[step % NMIX] */
    long counted;  /* answered within [T0, T1) */
    int len;
    char buf[BUF];
};

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double cpu_s(void) {
    struct rusage r;
    getrusage(RUSAGE_SELF, &r);
    return r.ru_utime.tv_sec + r.ru_utime.tv_usec / 1e6 + r.ru_stime.tv_sec + r.ru_stime.tv_usec / 1e6;
}

static void die(const char *what, const char *path) {
    fprintf(stderr, "at_load: %s: %s: %s\n", path, what, strerror(errno));
    exit(2);
}

static int open_endpoint(const char *path) {
    if (strncmp(path, "socket://", 9) == 0) {
        const char *colon = strrchr(path, ':');
        char host[64];
        size_t n = (size_t)(colon - (path + 9));
        if (colon == NULL || n == 0 || n >= sizeof host) {
            errno = EINVAL;
            die("expected socket://HOST:PORT", path);
        }
        memcpy(host, path + 9, n);
        host[n] = 0;
        struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((unsigned short)atoi(colon + 1))};
        if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) {
            errno = EINVAL;
            die("not an IPv4 address", path);
        }
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) die("connect", path);
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        return fd;
    }
    int fd = open(path, O_RDWR | O_NOCTTY);
    if (fd < 0) die("open", path);
    struct termios t;
    if (tcgetattr(fd, &t) < 0) die("tcgetattr", path);
    cfmakeraw(&t);
    if (tcsetattr(fd, TCSANOW, &t) < 0) die("tcsetattr", path);
    return fd;
}

/* The final result code ends `b` (OK, ERROR, +CME ERROR: n, +CMS ERROR: n): the answer is whole. */
static int final(const char *b, int n) {
    if (n < 4 || b[n - 2] != '\r' || b[n - 1] != '\n') return 0;
    int s = n - 2;
    while (s > 0 && b[s - 1] != '\n') s--;
    const char *line = b + s;
    int len = n - 2 - s;
    return (len == 2 && memcmp(line, "OK", 2) == 0) || (len == 5 && memcmp(line, "ERROR", 5) == 0) ||
           (len > 11 && (memcmp(line, "+CME ERROR:", 11) == 0 || memcmp(line, "+CMS ERROR:", 11) == 0));
}

/* `b` is exactly what command `k` of MIX must answer. */
static int right(const char *b, int n, unsigned k, int bare) {
    static const char ok[] = "\r\nOK\r\n";
    if (bare || INFO[k][0] == 0) return n == 6 && memcmp(b, ok, 6) == 0;
    size_t p = strlen(INFO[k]);
    /* \r\n INFO <text without CR/LF> \r\n \r\nOK\r\n */
    if ((size_t)n < 2 + p + 2 + 6 || memcmp(b, "\r\n", 2) != 0 || memcmp(b + 2, INFO[k], p) != 0) return 0;
    if (memcmp(b + n - 8, "\r\n", 2) != 0 || memcmp(b + n - 6, ok, 6) != 0) return 0;
    for (const char *c = b + 2 + p; c < b + n - 8; c++)
        if (*c == '\r' || *c == '\n') return 0;
    return 1;
}

static void send_all(int fd, const char *s) {
    size_t n = strlen(s);
    ssize_t w = write(fd, s, n);
    if (w != (ssize_t)n) die("write", "endpoint");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: at_load PATHS_FILE [--bare]\n");
        return 2;
    }
    int bare = argc > 2 && strcmp(argv[2], "--bare") == 0;
    FILE *f = fopen(argv[1], "r");
    if (f == NULL) die("open", argv[1]);
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);

    int cap = 64, n = 0;
    struct client *cl = malloc(sizeof *cl * (size_t)cap);
    char line[4096];
    while (fgets(line, sizeof line, f) != NULL) {
        line[strcspn(line, "\r\n")] = 0;
        if (line[0] == 0) continue;
        if (n == cap) {
            cap *= 2;
            cl = realloc(cl, sizeof *cl * (size_t)cap);
        }
        cl[n] = (struct client){.fd = open_endpoint(line)};
        n++;
    }
    fclose(f);
    if (n == 0 || cl == NULL) {
        fprintf(stderr, "at_load: %s: no endpoints\n", argv[1]);
        return 2;
    }

    int ep = epoll_create1(0);
    for (int i = 0; i < n; i++) {
        fcntl(cl[i].fd, F_SETFL, fcntl(cl[i].fd, F_GETFL) | O_NONBLOCK);
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (unsigned)i};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, cl[i].fd, &ev) < 0) die("epoll_ctl", "endpoint");
        send_all(cl[i].fd, "ATE0\r"); /* echo off, as drivers do; boot URCs come before its answer */
    }
    struct epoll_event evs[EVENTS];
    int waiting = n;
    double give_up = now_s() + 60;
    while (waiting > 0) {
        if (now_s() > give_up) {
            fprintf(stderr, "at_load: %d endpoints did not answer ATE0 within 60 s\n", waiting);
            return 2;
        }
        int k = epoll_wait(ep, evs, EVENTS, 100);
        for (int e = 0; e < k; e++) {
            struct client *c = &cl[evs[e].data.u32];
            ssize_t r = read(c->fd, c->buf + c->len, BUF - 1 - (size_t)c->len);
            if (r <= 0) continue;
            c->len += (int)r;
            if (final(c->buf, c->len)) {
                c->len = 0;
                waiting--;
            } else if (c->len >= BUF - 1) {
                c->len = 0;
            }
        }
    }
    printf("ready\n");
    fflush(stdout);
    double t0, t1;
    if (scanf("%lf %lf", &t0, &t1) != 2) {
        fprintf(stderr, "at_load: expected T0 T1 on stdin\n");
        return 2;
    }

    for (int i = 0; i < n; i++) {
        cl[i].step = (unsigned)i;
        send_all(cl[i].fd, MIX[i % NMIX]);
    }
    long wrong = 0;
    int counting = 0, shown = 0;
    double cpu0 = 0;
    for (;;) {
        double now = now_s();
        if (!counting && now >= t0) {
            counting = 1;
            cpu0 = cpu_s();
        }
        if (now >= t1) break;
        int k = epoll_wait(ep, evs, EVENTS, 50);
        for (int e = 0; e < k; e++) {
            struct client *c = &cl[evs[e].data.u32];
            ssize_t r = read(c->fd, c->buf + c->len, BUF - 1 - (size_t)c->len);
            if (r <= 0) {
                if (r == 0 || (errno != EAGAIN && errno != EINTR)) die("read (the server is gone?)", "endpoint");
                continue;
            }
            c->len += (int)r;
            if (!final(c->buf, c->len)) {
                if (c->len >= BUF - 1) { /* no final result in a whole buffer: wrong, start afresh */
                    wrong += counting;
                    c->len = 0;
                }
                continue;
            }
            unsigned cmd = c->step % NMIX;
            if (counting) {
                if (!right(c->buf, c->len, cmd, bare)) {
                    wrong++;
                    if (!shown++) {
                        fprintf(stderr, "at_load: wrong answer to %.*s: ", (int)strlen(MIX[cmd]) - 1, MIX[cmd]);
                        for (int j = 0; j < c->len; j++) {
                            unsigned char ch = (unsigned char)c->buf[j];
                            if (ch >= 32 && ch < 127) fputc(ch, stderr);
                            else fprintf(stderr, "\\x%02x", ch);
                        }
                        fputc('\n', stderr);
                    }
                }
                c->counted++;
            }
            c->len = 0;
            c->step++;
            send_all(c->fd, MIX[c->step % NMIX]);
        }
    }
    double cpu = cpu_s() - cpu0;
    printf("wrong %ld\ncpu %.6f\ncounts", wrong, cpu);
    for (int i = 0; i < n; i++) printf(" %ld", cl[i].counted);
    printf("\n");
    for (int i = 0; i < n; i++) close(cl[i].fd);
    free(cl);
    return 0;
}
