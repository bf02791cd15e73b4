/* A device dialling the virtual modem: AT, ATD*99#, lwIP's PPPoS client, one TCP exchange, hang-up.
 *
 * usage: client PTY APN ADDRESS PORT MESSAGE USER PASSWORD [tcp|udp [MRU]]
 * Defines context 1 on APN, waits for the registration (AT+CREG?, at most 15 s), dials, asking for
 * MRU when given (not 0).  Prints "ip <address>" when IPCP is up, "recv <bytes>" with what the
 * server sent before closing (udp: the first answer to MESSAGE, sent again every second until
 * one comes, at most 10 times), "end <ppp error code>" when the link is down, and exits 0 when all
 * of it happened.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "lwip/init.h"
#include "lwip/ip_addr.h"
#include "lwip/netif.h"
#include "lwip/tcp.h"
#include "lwip/timeouts.h"
#include "lwip/udp.h"
#include "netif/ppp/pppos.h"

static int fd = -1;
static ppp_pcb *ppp;
static struct netif pppif;
static ip_addr_t dest;
static u16_t port;
static const char *message;
static char received[65536];
static size_t received_len;
static int up, done, failed, closing;
static struct udp_pcb *datagrams;
static int udp_mode, udp_sent;

u32_t sys_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (u32_t)(ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

u32_t sys_jiffies(void) { return sys_now(); }

static u32_t serial_out(ppp_pcb *pcb, u8_t *data, u32_t len, void *ctx) {
    (void)pcb; (void)ctx;
    u32_t off = 0;
    while (off < len) {
        ssize_t n = write(fd, data + off, len - off);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) { struct pollfd p = {fd, POLLOUT, 0}; poll(&p, 1, 100); continue; }
            return off;
        }
        off += (u32_t)n;
    }
    return len;
}

static err_t on_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err) {
    (void)arg; (void)err;
    if (p == NULL) { /* the server closed: we are done with TCP */
        received[received_len] = 0;
        printf("recv %s\n", received);
        fflush(stdout);
        closing = 1;
        tcp_close(pcb);
        ppp_close(ppp, 0);
        return ERR_OK;
    }
    received_len += pbuf_copy_partial(p, received + received_len, (u16_t)(sizeof received - 1 - received_len), 0);
    tcp_recved(pcb, p->tot_len);
    pbuf_free(p);
    return ERR_OK;
}

static void on_error(void *arg, err_t err) {
    (void)arg;
    if (closing) return; /* our own hang-up took the closing connection down */
    printf("tcp error %d\n", err);
    failed = 1;
    ppp_close(ppp, 0);
}

static err_t on_connected(void *arg, struct tcp_pcb *pcb, err_t err) {
    (void)arg;
    if (err != ERR_OK) return err;
    tcp_write(pcb, message, (u16_t)strlen(message), TCP_WRITE_FLAG_COPY);
    tcp_output(pcb);
    return ERR_OK;
}

static void udp_send_message(void *arg) {
    (void)arg;
    if (received_len > 0 || closing) return;
    if (udp_sent++ == 10) { printf("udp: no answer\n"); failed = 1; ppp_close(ppp, 0); return; }
    struct pbuf *p = pbuf_alloc(PBUF_TRANSPORT, (u16_t)strlen(message), PBUF_RAM);
    if (p == NULL) return;
    pbuf_take(p, message, (u16_t)strlen(message));
    udp_sendto(datagrams, p, &dest, port);
    pbuf_free(p);
    sys_timeout(1000, udp_send_message, NULL);
}

static void on_datagram(void *arg, struct udp_pcb *pcb, struct pbuf *p, const ip_addr_t *addr, u16_t from) {
    (void)arg; (void)pcb; (void)addr; (void)from;
    if (received_len == 0 && !closing) {
        received_len = pbuf_copy_partial(p, received, (u16_t)(sizeof received - 1), 0);
        received[received_len] = 0;
        printf("recv %s\n", received);
        fflush(stdout);
        closing = 1;
        ppp_close(ppp, 0);
    }
    pbuf_free(p);
}

static void on_status(ppp_pcb *pcb, int code, void *ctx) {
    (void)pcb; (void)ctx;
    if (code == PPPERR_NONE) {
        up = 1;
        printf("ip %s\n", ip4addr_ntoa(netif_ip4_addr(&pppif)));
        fflush(stdout);
        if (udp_mode) {
            datagrams = udp_new();
            udp_recv(datagrams, on_datagram, NULL);
            udp_send_message(NULL);
            return;
        }
        struct tcp_pcb *t = tcp_new();
        tcp_recv(t, on_recv);
        tcp_err(t, on_error);
        tcp_connect(t, &dest, port, on_connected);
        return;
    }
    printf("end %d\n", code);
    fflush(stdout);
    done = 1;
}

static int expect(const char *command, const char *answer, int timeout_ms);

static int registered(void) {
    for (int i = 0; i < 30; i++) {
        if (expect("AT+CREG?\r", "+CREG: 0,1", 400) == 0 || expect("AT+CREG?\r", "+CREG: 0,5", 100) == 0) return 0;
    }
    return -1;
}

static int expect(const char *command, const char *answer, int timeout_ms) {
    char buf[512];
    size_t len = 0;
    if (write(fd, command, strlen(command)) < 0) return -1;
    u32_t start = sys_now();
    while (sys_now() - start < (u32_t)timeout_ms) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 100) <= 0) continue;
        ssize_t n = read(fd, buf + len, sizeof buf - 1 - len);
        if (n <= 0) continue;
        len += (size_t)n;
        buf[len] = 0;
        if (strstr(buf, answer) != NULL) return 0;
        if (len > sizeof buf - 64) len = 0;
    }
    fprintf(stderr, "no %s after %s", answer, command);
    return -1;
}

int main(int argc, char **argv) {
    if (argc < 8 || argc > 10) {
        fprintf(stderr, "usage: client PTY APN ADDRESS PORT MESSAGE USER PASSWORD [tcp|udp [MRU]]\n");
        return 2;
    }
    udp_mode = argc > 8 && strcmp(argv[8], "udp") == 0;
    int mru = argc > 9 ? atoi(argv[9]) : 0;
    fd = open(argv[1], O_RDWR | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) { perror(argv[1]); return 2; }
    struct termios tio;
    if (tcgetattr(fd, &tio) == 0) { cfmakeraw(&tio); tcsetattr(fd, TCSANOW, &tio); }
    if (!ipaddr_aton(argv[3], &dest)) { fprintf(stderr, "bad address %s\n", argv[3]); return 2; }
    port = (u16_t)atoi(argv[4]);
    message = argv[5];
    char cgdcont[160];
    snprintf(cgdcont, sizeof cgdcont, "AT+CGDCONT=1,\"IP\",\"%s\"\r", argv[2]);
    if (expect("ATE0\r", "OK", 5000) || expect(cgdcont, "OK", 5000) || registered()) return 1;
    if (expect("ATD*99#\r", "CONNECT\r\n", 5000)) return 1;
    lwip_init();
    ppp = pppos_create(&pppif, serial_out, on_status, NULL);
    ppp_set_auth(ppp, PPPAUTHTYPE_ANY, argv[6], argv[7]);
    ppp_set_default(ppp);
    if (mru > 0) ppp->lcp_wantoptions.mru = (u16_t)mru; /* sent when not the default 1500 */
    ppp_connect(ppp, 0);
    u32_t start = sys_now();
    u8_t buf[4096];
    while (!done && sys_now() - start < 30000) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 10) > 0) {
            ssize_t n = read(fd, buf, sizeof buf);
            if (n > 0) pppos_input(ppp, buf, (int)n);
        }
        sys_check_timeouts();
    }
    close(fd);
    return up && done && !failed && received_len > 0 ? 0 : 1;
}
