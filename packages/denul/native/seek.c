/*
 * lseek(2) with SEEK_DATA and SEEK_HOLE for denul, as a Node-API addon: Node.js has no lseek, and
 * these two are what lets denul skip the holes of a sparse file instead of reading gigabytes of
 * zeros. Built by scripts/build-native.mjs with the system C compiler against the Node-API headers
 * that come with Node.js; denul reads holes like any other bytes when this addon is missing.
 *
 *   lseek(fd, offset, whence) -> the resulting offset, or -1 where lseek fails with ENXIO (SEEK_DATA:
 *                                no data at or after `offset`; SEEK_HOLE: `offset` is past the end).
 *   SEEK_SET, SEEK_CUR, SEEK_DATA, SEEK_HOLE: the values of `whence`.
 * Like lseek(2) it moves the descriptor's offset. Any other error is thrown with its errno code
 * (EINVAL where the file system has no support).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <node_api.h>

static napi_value js_lseek(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  int32_t fd, whence;
  double offset;
  napi_value result;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 3 ||
      napi_get_value_int32(env, argv[0], &fd) != napi_ok ||
      napi_get_value_double(env, argv[1], &offset) != napi_ok || offset < 0 ||
      napi_get_value_int32(env, argv[2], &whence) != napi_ok) {
    napi_throw_type_error(env, "EINVAL", "expected (fd, offset >= 0, whence)");
    return NULL;
  }
  off_t found = lseek(fd, (off_t)offset, whence);
  if (found < 0) {
    if (errno == ENXIO) {
      napi_create_double(env, -1, &result);
      return result;
    }
    const char *code = errno == EINVAL ? "EINVAL" : errno == EBADF ? "EBADF" : errno == ESPIPE ? "ESPIPE" : "EIO";
    napi_throw_error(env, code, strerror(errno));
    return NULL;
  }
  napi_create_double(env, (double)found, &result);
  return result;
}

static void set_int(napi_env env, napi_value object, const char *name, int32_t value) {
  napi_value v;
  napi_create_int32(env, value, &v);
  napi_set_named_property(env, object, name, v);
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "lseek", NAPI_AUTO_LENGTH, js_lseek, NULL, &fn);
  napi_set_named_property(env, exports, "lseek", fn);
  set_int(env, exports, "SEEK_SET", SEEK_SET);
  set_int(env, exports, "SEEK_CUR", SEEK_CUR);
  set_int(env, exports, "SEEK_DATA", SEEK_DATA);
  set_int(env, exports, "SEEK_HOLE", SEEK_HOLE);
  return exports;
}
