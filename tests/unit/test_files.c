/* test_files.c - the one writer of the storage's files: the atomic replace,
 * the exclusive create (also between processes racing), the bounded read */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "files.h"

/* a fresh directory under /tmp */
static void
temp_dir(char *dir, size_t len)
{
	snprintf(dir, len, "/tmp/test_files.XXXXXX");
	assert_non_null(mkdtemp(dir));
}

/* how many entries dir holds (besides . and ..) */
static int
entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
	closedir(d);
	return n;
}

/* the whole file, as files_read gives it (max 1 MiB) */
static char *
slurp(const char *path)
{
	size_t len;
	char *s = files_read(path, 1 << 20, 0, &len);

	assert_non_null(s);
	assert_int_equal(strlen(s), len);
	return s;
}

/* replace: the new content whole, mode 0600, no temporary file left */
static void
write_atomic_replaces(void **state)
{
	char dir[64], path[128];
	struct stat sb;
	char *s;

	(void)state;
	temp_dir(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/state.json", dir);
	assert_int_equal(files_write_atomic(path, "first\n", 6), 0);
	assert_string_equal(s = slurp(path), "first\n");
	free(s);
	assert_int_equal(files_write_atomic(path, "second", 6), 0);
	assert_string_equal(s = slurp(path), "second");
	free(s);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	assert_int_equal(entries(dir), 1);
	/* a missing directory: an error, errno says why */
	snprintf(path, sizeof(path), "%s/no/such", dir);
	assert_int_equal(files_write_atomic(path, "x", 1), -1);
	assert_int_equal(errno, ENOENT);
	snprintf(path, sizeof(path), "%s/state.json", dir);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(rmdir(dir), 0);
}

/* the temporary file: beside the target, hidden (a dot), whole, 0600 */
static void
write_temp_beside(void **state)
{
	char dir[64], path[128], tmp[160];
	struct stat sb;
	char *s;

	(void)state;
	temp_dir(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/fullchain.pem", dir);
	assert_int_equal(files_write_temp(path, "pem", 3, tmp, sizeof(tmp)), 0);
	assert_int_equal(strncmp(tmp, dir, strlen(dir)), 0);
	assert_int_equal(strncmp(tmp + strlen(dir), "/.fullchain.pem.", 16), 0);
	assert_string_equal(s = slurp(tmp), "pem");
	free(s);
	assert_int_equal(stat(tmp, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	assert_int_equal(stat(path, &sb), -1);
	assert_int_equal(unlink(tmp), 0);
	/* too long a name for tmp: ENAMETOOLONG, nothing made */
	assert_int_equal(files_write_temp(path, "pem", 3, tmp, 20), -1);
	assert_int_equal(errno, ENAMETOOLONG);
	assert_int_equal(entries(dir), 0);
	files_sync_dir(path);
	assert_int_equal(rmdir(dir), 0);
}

/* create: 1 the first time, 0 after (the first content stays), -1 errors */
static void
create_exclusive_once(void **state)
{
	char dir[64], path[128], link_path[128];
	struct stat sb;
	char *s;

	(void)state;
	temp_dir(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/account.key", dir);
	assert_int_equal(files_create_exclusive(path, "one", 3), 1);
	assert_int_equal(files_create_exclusive(path, "two", 3), 0);
	assert_string_equal(s = slurp(path), "one");
	free(s);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	assert_int_equal(entries(dir), 1);
	/* even a dangling symlink is there: not followed, not replaced */
	snprintf(link_path, sizeof(link_path), "%s/dangling", dir);
	assert_int_equal(symlink("/nonexistent/target", link_path), 0);
	assert_int_equal(files_create_exclusive(link_path, "x", 1), 0);
	assert_int_equal(lstat(link_path, &sb), 0);
	assert_true(S_ISLNK(sb.st_mode));
	snprintf(path, sizeof(path), "%s/no/such", dir);
	assert_int_equal(files_create_exclusive(path, "x", 1), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(entries(dir), 2);
	assert_int_equal(unlink(link_path), 0);
	snprintf(path, sizeof(path), "%s/account.key", dir);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(rmdir(dir), 0);
}

#define RACERS 6
#define ROUNDS 50

/*
 * RACERS processes create one file at once, ROUNDS times: exactly one gets
 * 1, and the file holds that one's content, whole (what a reader sees at
 * any moment is never empty or cut short).
 */
static void
create_exclusive_race(void **state)
{
	char dir[64], path[128];

	(void)state;
	temp_dir(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/account.key", dir);
	for (int r = 0; r < ROUNDS; r++) {
		pid_t pids[RACERS];
		int go[2], winners = 0, winner = -1;
		char want[64], *s;

		assert_int_equal(pipe(go), 0);
		for (int i = 0; i < RACERS; i++) {
			char text[64], c;

			pids[i] = fork();
			assert_true(pids[i] >= 0);
			if (pids[i] > 0)
				continue;
			close(go[1]);
			snprintf(text, sizeof(text), "racer %d of round %d\n", i, r);
			while (read(go[0], &c, 1) == -1)
				;
			switch (files_create_exclusive(path, text, strlen(text))) {
			case 1:
				_exit(1);
			case 0: {
				/* the winner's whole content, already */
				size_t len;
				char *got = files_read(path, 1024, 0, &len);

				_exit(got != NULL && strncmp(got, "racer ", 6) == 0 &&
				    got[len - 1] == '\n' ? 0 : 3);
			}
			default:
				_exit(2);
			}
		}
		close(go[0]);
		close(go[1]);
		for (int i = 0; i < RACERS; i++) {
			int st;

			assert_int_equal(waitpid(pids[i], &st, 0), pids[i]);
			assert_true(WIFEXITED(st));
			assert_true(WEXITSTATUS(st) <= 1);
			if (WEXITSTATUS(st) == 1) {
				winners++;
				winner = i;
			}
		}
		assert_int_equal(winners, 1);
		snprintf(want, sizeof(want), "racer %d of round %d\n", winner, r);
		assert_string_equal(s = slurp(path), want);
		free(s);
		assert_int_equal(entries(dir), 1);
		assert_int_equal(unlink(path), 0);
	}
	assert_int_equal(rmdir(dir), 0);
}

/* read: whole, bounded, regular files only, symlinks refused when asked */
static void
read_bounded(void **state)
{
	char dir[64], path[128], link_path[128];
	size_t len = 99;
	char *s;

	(void)state;
	temp_dir(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/token", dir);
	assert_null(files_read(path, 100, 0, &len));
	assert_int_equal(errno, ENOENT);
	assert_int_equal(files_write_atomic(path, "0123456789", 10), 0);
	assert_non_null(s = files_read(path, 10, 0, &len));
	assert_int_equal(len, 10);
	assert_string_equal(s, "0123456789");
	free(s);
	assert_null(files_read(path, 9, 0, &len));
	assert_int_equal(errno, EFBIG);
	/* len may be NULL; an empty file is an empty string */
	assert_int_equal(files_write_atomic(path, "", 0), 0);
	assert_non_null(s = files_read(path, 10, 0, NULL));
	assert_string_equal(s, "");
	free(s);
	/* a directory is no file */
	assert_null(files_read(dir, 100, 0, &len));
	assert_int_equal(errno, EINVAL);
	/* a symlink: followed, or refused with FILES_NOFOLLOW */
	snprintf(link_path, sizeof(link_path), "%s/link", dir);
	assert_int_equal(symlink(path, link_path), 0);
	assert_non_null(s = files_read(link_path, 10, 0, &len));
	free(s);
	assert_null(files_read(link_path, 10, FILES_NOFOLLOW, &len));
	assert_int_equal(errno, ELOOP);
	/* a FIFO is refused without blocking */
	assert_int_equal(unlink(path), 0);
	assert_int_equal(mkfifo(path, 0600), 0);
	assert_null(files_read(path, 10, 0, &len));
	assert_int_equal(errno, EINVAL);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(unlink(link_path), 0);
	assert_int_equal(rmdir(dir), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(write_atomic_replaces),
		cmocka_unit_test(write_temp_beside),
		cmocka_unit_test(create_exclusive_once),
		cmocka_unit_test(create_exclusive_race),
		cmocka_unit_test(read_bounded),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
