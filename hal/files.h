/* SPDX-License-Identifier: MIT */
/*
 * files.h - how the stack writes and reads the files a user names (models, session states,
 * profiles): never through a planted symlink or into a device or FIFO, never blocking on a
 * FIFO, never leaving a half-written file under the final name.
 */
#ifndef EDGE_NPU_HAL_FILES_H
#define EDGE_NPU_HAL_FILES_H

#include <stddef.h>
#include <string.h>

/* The temporary's name in the destination's directory, and the room its path needs. */
#define HAL_FILE_TMP_NAME ".enpu-XXXXXX"
#define HAL_FILE_TMP_LEN(path) (strlen(path) + sizeof(HAL_FILE_TMP_NAME))

/*
 * A new file for path: refused (-1, err says why) when path exists and is not a regular file
 * (a symlink, FIFO, device or directory); else a fresh temporary beside it, created
 * exclusively (so a link planted at its name is never followed) as HAL_FILE_TMP_NAME in
 * path's directory (a short name: a file name of NAME_MAX bytes still gets one). It has the
 * mode of the file it replaces (and, for root, its owner), else 0666 less the umask. Returns
 * its descriptor and its name in tmp (tmp_len >= HAL_FILE_TMP_LEN(path)); finish with
 * hal_file_commit or hal_file_abandon.
 */
int hal_file_create(const char *path, char *tmp, size_t tmp_len, char *err, size_t err_len);
/* Syncs and closes fd, then renames tmp to path. 0, or -1 with tmp removed and err set. */
int hal_file_commit(int fd, const char *tmp, const char *path, char *err, size_t err_len);
/* The rename alone, for a caller that synced and closed tmp itself (a stdio stream). */
int hal_file_publish(const char *tmp, const char *path, char *err, size_t err_len);
/* Closes fd and removes tmp (a write failed). */
void hal_file_abandon(int fd, const char *tmp);
/* Removes tmp, whose descriptor the caller closed (a stdio stream's write failed). */
void hal_file_discard(const char *tmp);
/*
 * Whether hal_file_create would succeed for path (0, else -1 with err set), by creating its
 * temporary and removing it at once: path itself is left as it is, so a file that a long
 * run is to replace stays there until the run has its replacement.
 */
int hal_file_probe(const char *path, char *err, size_t err_len);

/*
 * The temporaries not yet committed, published, abandoned or discarded are remembered (up
 * to HAL_FILE_PENDING_MAX at a time), so that a signal ending the process need not leave
 * them behind: a model half written is as big as the model.
 * - hal_file_remove_temporaries() removes them; async-signal-safe, for a handler;
 * - hal_file_clean_on_signal(sig) makes sig (one whose default ends the process) remove
 *   them, then end the process as it would have; a signal ignored (nohup's SIGHUP) stays
 *   ignored. A handler of a tool's own may call it (sigaction is async-signal-safe) so that
 *   the next one cleans up and ends the process;
 * - hal_file_clean_on_end_signals() does it for SIGHUP, SIGINT and SIGTERM: what a tool that
 *   writes files calls first.
 */
#define HAL_FILE_PENDING_MAX 32
void hal_file_remove_temporaries(void);
void hal_file_clean_on_signal(int sig);
void hal_file_clean_on_end_signals(void);

/*
 * Opens path for reading: a FIFO or device is refused at once (it is opened without blocking
 * and checked before any read). Returns the descriptor and the size, or -1 with err set.
 */
int hal_file_open_regular(const char *path, size_t *out_size, char *err, size_t err_len);

/*
 * All len bytes to or from fd, read and write retried after EINTR and short counts. Return 0,
 * or the errno of the failed call (EIO for a write that made no progress, ENODATA for a read
 * that met the end of the file first).
 */
int hal_file_write_all(int fd, const void *data, size_t len);
int hal_file_read_all(int fd, void *data, size_t len);

#endif
