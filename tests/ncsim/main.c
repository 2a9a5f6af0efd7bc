/*
 * main.c - karri-ncsim's options, listening socket and epoll loop (what the
 * simulator is: ncsim.h).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include "core/error.h"
#include "core/log.h"
#include "ncsim.h"

static void
on_signal(int sig)
{
	if (sig == SIGUSR1)
		ncsim_wake = 1;
	else
		ncsim_stop = 1;
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: karri-ncsim [--port P] [--nodes N --first-ip A.B.C.D] [--cores C]\n"
	    "         [--memory MiB] [--disk GiB] [--latency-ms MS] [--workers W]\n"
	    "         [--instances-per-node K] [--privif DEV] [--tls KARRI_HOME]\n"
	    "         [--guest-aoe io|always]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "port", 1, NULL, 'p' }, { "nodes", 1, NULL, 'n' }, { "first-ip", 1, NULL, 'f' },
		{ "cores", 1, NULL, 'c' }, { "memory", 1, NULL, 'm' }, { "disk", 1, NULL, 'd' },
		{ "latency-ms", 1, NULL, 'l' }, { "workers", 1, NULL, 'w' },
		{ "instances-per-node", 1, NULL, 'i' }, { "privif", 1, NULL, 'P' },
		{ "tls", 1, NULL, 'T' }, { "guest-aoe", 1, NULL, 'G' }, { NULL, 0, NULL, 0 }
	};
	static struct kr_tls_files tls_files;
	struct sockaddr_in a = { .sin_family = AF_INET };
	struct rlimit rl;
	struct sigaction sa = { .sa_handler = on_signal };
	int per_node = 0, lfd, one = 1, c;
	struct in_addr first;

	inet_pton(AF_INET, "127.1.0.1", &first);
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'p': sim.port = atoi(optarg); break;
		case 'n': sim.nodes = atoi(optarg); break;
		case 'f': if (inet_pton(AF_INET, optarg, &first) != 1) usage(); break;
		case 'c': sim.cores = atoi(optarg); break;
		case 'm': sim.memory = atoi(optarg); break;
		case 'd': sim.disk = atoi(optarg); break;
		case 'l': sim.latency_ms = atoi(optarg); break;
		case 'w': sim.workers = atoi(optarg); break;
		case 'i': per_node = atoi(optarg); break;
		case 'P': sim.privif = optarg; break;
		case 'G': sim.guest_aoe = optarg; break;
		case 'T': kr_tls_files(optarg, "node", &tls_files); sim.tls_files = &tls_files; break;
		default: usage();
		}
	}
	if (sim.nodes < 1 || sim.nodes > 65536 || sim.port < 1 || sim.port > 65535 ||
	    sim.workers < 1 || sim.workers > 256 || per_node < 0 || sim.latency_ms < 0 ||
	    (sim.guest_aoe && strcmp(sim.guest_aoe, "io") && strcmp(sim.guest_aoe, "always")))
		usage();
	sim.first = ntohl(first.s_addr);
	sim.node = calloc((size_t)sim.nodes, sizeof(*sim.node));
	for (int k = 0; k < sim.nodes; k++)
		sim.node[k].index = k;
	ncsim_prefill(per_node);
	/* A kept-alive connection per node: raise the fd limit as far as allowed. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (sim.tls_files) {
		sim.tls_max = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 1048576 ?
		    (int)rl.rlim_cur : 1048576;
		if (kr_tls_files_check(sim.tls_files) < 0 ||
		    !(sim.tls_conn = calloc((size_t)sim.tls_max, sizeof(*sim.tls_conn)))) {
			fprintf(stderr, "ncsim: %s\n", kr_error_message());
			return 1;
		}
	}
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	a.sin_port = htons((uint16_t)sim.port);
	if (bind(lfd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(lfd, 4096) < 0) {
		fprintf(stderr, "ncsim: cannot listen on port %d: %s\n", sim.port, strerror(errno));
		return 1;
	}
	sim.epfd = epoll_create1(EPOLL_CLOEXEC);
	{
		struct epoll_event ev = { .events = EPOLLIN, .data.fd = lfd };

		epoll_ctl(sim.epfd, EPOLL_CTL_ADD, lfd, &ev);
	}
	for (int i = 0; i < sim.workers; i++) {
		pthread_t t;

		pthread_create(&t, NULL, ncsim_worker, NULL);
		pthread_detach(t);
	}
	kr_log_info("ncsim: %d node(s) on port %d, %d cores %d MiB %d GiB each", sim.nodes,
	    sim.port, sim.cores, sim.memory, sim.disk);
	while (!ncsim_stop) {
		struct epoll_event ev[256];
		int n = epoll_wait(sim.epfd, ev, 256, 500);

		if (ncsim_wake) {
			pthread_mutex_lock(&sim.lock);
			for (int k = 0; k < sim.nodes; k++)
				sim.node[k].off = false;
			ncsim_wake = 0;
			pthread_mutex_unlock(&sim.lock);
		}
		for (int i = 0; i < n; i++) {
			if (ev[i].data.fd == lfd) {
				int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

				if (fd >= 0)
					ncsim_arm(fd, EPOLL_CTL_ADD);
			} else if (ev[i].events & (EPOLLHUP | EPOLLERR | EPOLLRDHUP) &&
			    !(ev[i].events & EPOLLIN)) {
				ncsim_conn_close(ev[i].data.fd);
			} else {
				ncsim_enqueue(ev[i].data.fd);
			}
		}
	}
	return 0;
}
