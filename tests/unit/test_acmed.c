/* test_acmed.c - the certificate manager's pure parts: renewal timing and
 * its spread, back-off, DNS rechecks, the order budget, the DNS match, the
 * lock between instances and the state file */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "acmed.h"

#define DAY 86400L

/* without ARI: a third of the lifetime before expiry, less at most a tenth
 * of the lifetime, the same each time for one name */
static void
renewal_without_ari(void **state)
{
	time_t nb = 1700000000, na = nb + 90 * DAY;
	time_t t = acmed_renewal_time("mta-sts.a.test", nb, na, 0, 0, 7);

	(void)state;
	assert_true(t <= na - 30 * DAY);
	assert_true(t > na - 30 * DAY - 9 * DAY);
	assert_int_equal(t, acmed_renewal_time("mta-sts.a.test", nb, na, 0, 0, 99));
	/* a 6-day certificate: two days before, less at most 14.4 h */
	na = nb + 6 * DAY;
	t = acmed_renewal_time("mta-sts.a.test", nb, na, 0, 0, 0);
	assert_true(t <= na - 2 * DAY && t > na - 2 * DAY - 6 * DAY / 10);
}

/* with ARI: inside the window, at the point the dice say */
static void
renewal_with_ari(void **state)
{
	time_t nb = 1700000000, na = nb + 90 * DAY;
	time_t s = na - 20 * DAY, e = na - 18 * DAY;

	(void)state;
	for (unsigned long r = 0; r < 100000; r += 997) {
		time_t t = acmed_renewal_time("mta-sts.a.test", nb, na, s, e, r *
		    2654435761UL);

		assert_true(t >= s && t < e);
	}
	/* an empty or reversed window is no window */
	assert_int_equal(acmed_renewal_time("x", nb, na, e, s, 5),
	    acmed_renewal_time("x", nb, na, 0, 0, 5));
}

/*
 * 10,000 domains with identical 90-day certificates: their renewals spread
 * over 9 days (the tenth of the lifetime), so that no minute holds more
 * than 8 of them (1% would be 100; a uniform spread puts 0.77 in a minute
 * on average) and every day of the nine gets at least 800.
 */
static void
spread_of_10000_domains(void **state)
{
	enum { N = 10000 };
	time_t nb = 1700000000, na = nb + 90 * DAY, base = na - 30 * DAY;
	static unsigned short per_minute[9 * 24 * 60 + 1];
	unsigned per_day[10] = { 0 }, worst = 0;
	char name[64];

	(void)state;
	for (int i = 0; i < N; i++) {
		time_t t;
		long m;

		snprintf(name, sizeof(name), "mta-sts.customer%d.example", i);
		t = acmed_renewal_time(name, nb, na, 0, 0, 0);
		assert_true(t <= base && t > base - 9 * DAY);
		m = (long)(base - t) / 60;
		if (++per_minute[m] > worst)
			worst = per_minute[m];
		per_day[(base - t) / DAY]++;
	}
	printf("# worst minute: %u of %d renewals\n", worst, N);
	assert_true(worst <= 8);
	for (int d = 0; d < 9; d++)
		assert_true(per_day[d] >= 800);
}

/* the base doubling, a day at most, +-20%, Retry-After when longer */
static void
backoff(void **state)
{
	(void)state;
	/* rnd 5000 of 10000: the middle, no jitter */
	assert_int_equal(acmed_backoff(1, 300, -1, 5000), 300);
	assert_int_equal(acmed_backoff(2, 300, -1, 5000), 600);
	assert_int_equal(acmed_backoff(5, 300, -1, 5000), 4800);
	assert_int_equal(acmed_backoff(40, 300, -1, 5000), 86400);
	/* the extremes of the jitter */
	assert_int_equal(acmed_backoff(1, 300, -1, 0), 240);
	assert_int_equal(acmed_backoff(1, 300, -1, 10000), 360);
	for (unsigned long r = 0; r < 50000; r += 7) {
		long w = acmed_backoff(3, 300, -1, r);

		assert_true(w >= 960 && w <= 1440);
	}
	/* the CA's Retry-After wins when longer, not when shorter */
	assert_int_equal(acmed_backoff(1, 300, 7200, 5000), 7200);
	assert_int_equal(acmed_backoff(3, 300, 60, 5000), 1200);
	/* the CA unreachable: a minute first */
	assert_int_equal(acmed_backoff(1, 60, -1, 5000), 60);
	assert_int_equal(acmed_backoff(2, 60, -1, 5000), 120);
	assert_int_equal(acmed_backoff(30, 60, -1, 5000), 86400);
}

static void
dns_recheck(void **state)
{
	(void)state;
	assert_int_equal(acmed_dns_recheck(1), 600);
	assert_int_equal(acmed_dns_recheck(2), 1200);
	assert_int_equal(acmed_dns_recheck(6), 19200);
	assert_int_equal(acmed_dns_recheck(7), 21600);
	assert_int_equal(acmed_dns_recheck(1000), 21600);
}

/*
 * The order budget, driven for 10 simulated hours with orders always
 * waiting: never more than orders_per_hour + the bucket (1 + per_hour/6)
 * in any hour, and the sustained rate is orders_per_hour.
 */
static void
bucket_paces_orders(void **state)
{
	const unsigned rates[] = { 1, 60, 300, 10000 };

	(void)state;
	for (size_t r = 0; r < sizeof(rates) / sizeof(rates[0]); r++) {
		unsigned per_hour = rates[r], cap = 1 + per_hour / 6;
		struct acmed_bucket b;
		time_t t0 = 1700000000;
		static unsigned long per_second[10 * 3600];
		unsigned long total = 0;

		memset(per_second, 0, sizeof(per_second));
		acmed_bucket_init(&b, per_hour, t0);
		for (long s = 0; s < 10 * 3600; s++) {
			long wait = -1;

			while (acmed_bucket_take(&b, t0 + s, &wait))
				per_second[s]++, total++;
			assert_true(wait >= 1);
		}
		for (long s = 0; s + 3600 <= 10 * 3600; s += 60) {
			unsigned long in_hour = 0;

			for (long k = s; k < s + 3600; k++)
				in_hour += per_second[k];
			assert_true(in_hour <= per_hour + cap);
		}
		assert_true(total >= 10UL * per_hour &&
		    total <= 10UL * per_hour + cap + 1);
	}
}

static void
points_here(void **state)
{
	const char *found[] = { "192.0.2.7", "2001:db8::1" };
	const char *other[] = { "198.51.100.1" };

	(void)state;
	assert_int_equal(acmed_points_here("192.0.2.7", found, 2, NULL), 1);
	assert_int_equal(acmed_points_here("10.0.0.1, 2001:db8:0::1", found, 2,
	    NULL), 1);
	assert_int_equal(acmed_points_here("10.0.0.1 192.0.2.8", found, 2, NULL),
	    0);
	assert_int_equal(acmed_points_here("192.0.2.7", other, 1, NULL), 0);
	/* a host name matches the CNAME target */
	assert_int_equal(acmed_points_here("mta-sts.provider.example", other, 1,
	    "MTA-STS.Provider.Example."), 1);
	assert_int_equal(acmed_points_here("mta-sts.provider.example", other, 1,
	    "mta-sts.other.example"), 0);
	assert_int_equal(acmed_points_here("mta-sts.provider.example", other, 1,
	    NULL), 0);
	assert_int_equal(acmed_points_here("192.0.2.7", NULL, 0, NULL), 0);
}

/* a fresh directory under /tmp */
static void
temp_dir(char *dir, size_t len)
{
	snprintf(dir, len, "/tmp/test_acmed.XXXXXX");
	assert_non_null(mkdtemp(dir));
}

/*
 * Two instances (A and B) share the locks directory: A takes the lock, B
 * cannot until it expires, then B takes it over; A (late) neither takes it
 * back nor removes B's lock; B's release frees it for A.
 */
static void
lock_take_over(void **state)
{
	char dir[64], path[128], buf[128];
	time_t now = 1700000000;
	FILE *fp;
	struct stat sb;

	(void)state;
	temp_dir(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/mta-sts.a.test.lock", dir);
	assert_int_equal(acmed_lock_take(dir, "mta-sts.a.test", "hostA:1", now,
	    600), 1);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	assert_non_null(fp = fopen(path, "r"));
	assert_non_null(fgets(buf, sizeof(buf), fp));
	fclose(fp);
	assert_string_equal(buf, "hostA:1 1700000600\n");
	/* held: B waits, and so does A itself (one order at a time) */
	assert_int_equal(acmed_lock_take(dir, "mta-sts.a.test", "hostB:2",
	    now + 599, 600), 0);
	assert_int_equal(acmed_lock_take(dir, "mta-sts.a.test", "hostA:1",
	    now + 1, 600), 0);
	/* another domain is free */
	assert_int_equal(acmed_lock_take(dir, "mta-sts.b.test", "hostB:2",
	    now, 600), 1);
	/* expired: B takes it over */
	assert_int_equal(acmed_lock_take(dir, "mta-sts.a.test", "hostB:2",
	    now + 601, 600), 1);
	assert_int_equal(acmed_lock_take(dir, "mta-sts.a.test", "hostA:1",
	    now + 602, 600), 0);
	/* A's late release leaves B's lock */
	assert_int_equal(acmed_lock_release(dir, "mta-sts.a.test", "hostA:1"), 0);
	assert_int_equal(stat(path, &sb), 0);
	/* an owner that is a prefix of another is not that owner */
	assert_int_equal(acmed_lock_release(dir, "mta-sts.a.test", "hostB:"), 0);
	assert_int_equal(acmed_lock_release(dir, "mta-sts.a.test", "hostB:2"), 1);
	assert_int_equal(stat(path, &sb), -1);
	assert_int_equal(acmed_lock_take(dir, "mta-sts.a.test", "hostA:1",
	    now + 603, 600), 1);
	assert_int_equal(acmed_lock_confirm(dir, "mta-sts.a.test", "hostA:1"), 1);
	assert_int_equal(acmed_lock_confirm(dir, "mta-sts.a.test", "hostA:"), 0);
	assert_int_equal(acmed_lock_confirm(dir, "mta-sts.a.test", "hostB:2"), 0);
	acmed_lock_release(dir, "mta-sts.a.test", "hostA:1");
	acmed_lock_release(dir, "mta-sts.b.test", "hostB:2");
	assert_int_equal(rmdir(dir), 0);	/* no temporary file left */
}

/* make path a lock file holding text, last modified at mtime */
static void
lock_plant(const char *path, const char *text, time_t mtime)
{
	struct timeval tv[2] = { { mtime, 0 }, { mtime, 0 } };
	FILE *fp;

	assert_non_null(fp = fopen(path, "w"));
	fputs(text, fp);
	assert_int_equal(fclose(fp), 0);
	assert_int_equal(utimes(path, tv), 0);
}

/*
 * A lock whose content does not say until when (empty: its creator has not
 * written it yet, or garbage) is held until its mtime + the timeout, then
 * expired like any other.
 */
static void
lock_unreadable_held_until_mtime(void **state)
{
	char dir[64], path[128];
	time_t now = time(NULL);

	(void)state;
	temp_dir(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/mta-sts.a.test.lock", dir);
	lock_plant(path, "", now - 10);
	assert_int_equal(acmed_lock_take(dir, "mta-sts.a.test", "hostA:1", now,
	    600), 0);
	lock_plant(path, "garbage", now - 599);
	assert_int_equal(acmed_lock_take(dir, "mta-sts.a.test", "hostA:1", now,
	    600), 0);
	/* "owner expiry" cut short, the expiry missing: unreadable too */
	lock_plant(path, "hostB:2 ", now);
	assert_int_equal(acmed_lock_take(dir, "mta-sts.a.test", "hostA:1", now,
	    600), 0);
	lock_plant(path, "", now - 601);
	assert_int_equal(acmed_lock_take(dir, "mta-sts.a.test", "hostA:1", now,
	    600), 1);
	assert_int_equal(acmed_lock_confirm(dir, "mta-sts.a.test", "hostA:1"), 1);
	assert_int_equal(acmed_lock_release(dir, "mta-sts.a.test", "hostA:1"), 1);
	lock_plant(path, "garbage", now - 700);
	assert_int_equal(acmed_lock_take(dir, "mta-sts.a.test", "hostA:1", now,
	    600), 1);
	assert_int_equal(acmed_lock_release(dir, "mta-sts.a.test", "hostA:1"), 1);
	assert_int_equal(rmdir(dir), 0);	/* no temporary file left */
}

#define RACERS 4		/* processes racing for one lock */
#define ROUNDS 40		/* rounds per kind of start */

/*
 * One round: RACERS processes, released at once (the read end of a pipe
 * reaching its end), each try to take the lock in dir and, after a pause,
 * confirm they still hold it (what the manager does before ordering).
 * Returns how many won (took it and still held it after the pause).
 */
static int
lock_race_round(const char *dir, int round)
{
	pid_t pids[RACERS];
	int go[2], winners = 0;

	assert_int_equal(pipe(go), 0);
	for (int i = 0; i < RACERS; i++) {
		char owner[32], c;

		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] > 0)
			continue;
		close(go[1]);
		snprintf(owner, sizeof(owner), "host%d:%d", round, i);
		while (read(go[0], &c, 1) == -1)
			;
		/* child: exit 1 when it won, 0 when not, 2 on error */
		switch (acmed_lock_take(dir, "mta-sts.a.test", owner, time(NULL),
		    600)) {
		case 1:
			usleep(50 * 1000);
			_exit(acmed_lock_confirm(dir, "mta-sts.a.test", owner) == 1);
		case 0:
			_exit(0);
		default:
			_exit(2);
		}
	}
	close(go[0]);
	close(go[1]);		/* go */
	for (int i = 0; i < RACERS; i++) {
		int st;

		assert_int_equal(waitpid(pids[i], &st, 0), pids[i]);
		assert_true(WIFEXITED(st) && WEXITSTATUS(st) <= 1);
		winners += WEXITSTATUS(st);
	}
	return winners;
}

/*
 * RACERS processes race for one domain's lock, ROUNDS times for each start:
 * no lock, an expired lock, an empty lock older than the timeout (each:
 * exactly one wins), and an empty lock younger than the timeout (held by
 * its creator: nobody wins).
 */
static void
lock_race_one_winner(void **state)
{
	const char *const starts[] = { "none", "expired", "empty-old", "empty-young" };
	char dir[64], path[128], text[64];
	unsigned bad[4] = { 0 };

	(void)state;
	temp_dir(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/mta-sts.a.test.lock", dir);
	for (int s = 0; s < 4; s++) {
		for (int r = 0; r < ROUNDS; r++) {
			time_t now = time(NULL);
			int w;

			unlink(path);
			if (s == 1) {
				snprintf(text, sizeof(text), "old:1 %lld\n",
				    (long long)now - 1);
				lock_plant(path, text, now - 10);
			} else if (s == 2) {
				lock_plant(path, "", now - 601);
			} else if (s == 3) {
				lock_plant(path, "", now - 5);
			}
			w = lock_race_round(dir, r);
			if (w != (s == 3 ? 0 : 1)) {
				printf("# start %s, round %d: %d winners\n",
				    starts[s], r, w);
				bad[s]++;
			}
		}
	}
	unlink(path);
	printf("# rounds without exactly one winner (0 for empty-young): "
	    "none %u, expired %u, empty-old %u, empty-young %u of %d each\n",
	    bad[0], bad[1], bad[2], bad[3], ROUNDS);
	for (int s = 0; s < 4; s++)
		assert_int_equal(bad[s], 0);
	assert_int_equal(rmdir(dir), 0);	/* no temporary file left */
}

/* the state file: written atomically (0600), read back the same */
static void
state_round_trip(void **state)
{
	struct acmed_state a = { 0 }, b;
	char dir[64], path[128], err[256];
	struct stat sb;
	FILE *fp;

	(void)state;
	temp_dir(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/mta-sts.a.test.json", dir);
	assert_int_equal(acmed_state_read(path, &b, err, sizeof(err)), 1);
	a.not_after = 1800000000;
	a.next_renewal = 1790000000;
	a.last_attempt = 1700000000;
	a.retry_at = 1700000300;
	a.failures = 3;
	snprintf(a.last_error, sizeof(a.last_error), "too many \"orders\"\n");
	snprintf(a.ari_id, sizeof(a.ari_id), "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE");
	assert_int_equal(acmed_state_write(path, &a), 0);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	assert_int_equal(acmed_state_read(path, &b, err, sizeof(err)), 0);
	assert_memory_equal(&a, &b, sizeof(a));
	/* not JSON: an error naming the file */
	assert_non_null(fp = fopen(path, "w"));
	fputs("{\"not_after\": ", fp);
	fclose(fp);
	assert_int_equal(acmed_state_read(path, &b, err, sizeof(err)), -1);
	assert_non_null(strstr(err, path));
	assert_int_equal(unlink(path), 0);
	assert_int_equal(rmdir(dir), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(renewal_without_ari),
		cmocka_unit_test(renewal_with_ari),
		cmocka_unit_test(spread_of_10000_domains),
		cmocka_unit_test(backoff),
		cmocka_unit_test(dns_recheck),
		cmocka_unit_test(bucket_paces_orders),
		cmocka_unit_test(points_here),
		cmocka_unit_test(lock_take_over),
		cmocka_unit_test(lock_unreadable_held_until_mtime),
		cmocka_unit_test(lock_race_one_winner),
		cmocka_unit_test(state_round_trip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
