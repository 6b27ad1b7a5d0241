/*
 * p11shim: a PKCS#11 module that wraps another (SoftHSM2) and injects
 * faults on command, for the HSM fault tests of issue 15 (part 4).
 *
 * C_GetFunctionList loads the real module (OCES_P11SHIM_MODULE, or
 * /usr/lib/softhsm/libsofthsm2.so), copies its function list and replaces
 * the functions that work in a session. Before each of them the shim reads
 * its control file, "<shim>.control" next to the shared library (found
 * with dladdr, so that each test's copy has its own), which holds one line
 *
 *     <sequence> <command> <count>
 *
 * A new sequence number starts the command:
 *   device_error N     the next N session calls return CKR_DEVICE_ERROR
 *                      (N = -1: every call until the next command)
 *   session_invalid N  the same with CKR_SESSION_HANDLE_INVALID
 *   close_sessions 0   once: C_CloseAllSessions on every slot with a token,
 *                      as an HSM does that drops its clients' sessions
 *   off 0              no faults
 * The number of faults injected so far is written to "<shim>.count".
 *
 * Session calls hold a read lock and close_sessions the write lock, so the
 * shim never frees a session under a call in flight (SoftHSM would crash;
 * a real HSM does not).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CK_PTR *
#define CK_DECLARE_FUNCTION(returnType, name) returnType name
#define CK_DECLARE_FUNCTION_POINTER(returnType, name) returnType(*name)
#define CK_CALLBACK_FUNCTION(returnType, name) returnType(*name)
#ifndef NULL_PTR
#define NULL_PTR 0
#endif
#include "pkcs11.h"

static CK_FUNCTION_LIST_PTR real;
static CK_FUNCTION_LIST shim;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_rwlock_t calls = PTHREAD_RWLOCK_INITIALIZER;
static char control[4096], counter[4096];
static long last_seq = -1, remaining, injected;
static CK_RV fault = CKR_OK;

static void paths(void) {
	Dl_info info;
	if (control[0] || !dladdr((void *)paths, &info) || !info.dli_fname) return;
	snprintf(control, sizeof control, "%s.control", info.dli_fname);
	snprintf(counter, sizeof counter, "%s.count", info.dli_fname);
}

static void close_all(void) {
	CK_SLOT_ID slots[64];
	CK_ULONG n = 64;
	pthread_rwlock_wrlock(&calls);
	if (real->C_GetSlotList(CK_TRUE, slots, &n) == CKR_OK)
		for (CK_ULONG i = 0; i < n; i++) real->C_CloseAllSessions(slots[i]);
	pthread_rwlock_unlock(&calls);
}

static void write_count(void) {
	FILE *f = fopen(counter, "w");
	if (!f) return;
	fprintf(f, "%ld\n", injected);
	fclose(f);
}

/* check reads the control file and returns the fault to inject, if any. */
static CK_RV check(void) {
	long seq = -1, count = 0;
	char cmd[64] = "";
	int close = 0;
	CK_RV rv = CKR_OK;
	FILE *f;

	pthread_mutex_lock(&mu);
	paths();
	if ((f = fopen(control, "r")) != NULL) {
		if (fscanf(f, "%ld %63s %ld", &seq, cmd, &count) == 3 && seq != last_seq) {
			last_seq = seq;
			remaining = count;
			fault = CKR_OK;
			if (strcmp(cmd, "device_error") == 0) fault = CKR_DEVICE_ERROR;
			else if (strcmp(cmd, "session_invalid") == 0) fault = CKR_SESSION_HANDLE_INVALID;
			else if (strcmp(cmd, "close_sessions") == 0) close = 1;
		}
		fclose(f);
	}
	if (fault != CKR_OK && remaining != 0) {
		rv = fault;
		if (remaining > 0) remaining--;
		injected++;
		write_count();
	}
	pthread_mutex_unlock(&mu);
	if (close) close_all();
	return rv;
}

/* WRAP defines a replacement for a session function: fault, or the real
 * call under the read lock. */
#define WRAP(name, params, args)                 \
	static CK_RV shim_##name params {            \
		CK_RV rv = check();                      \
		if (rv != CKR_OK) return rv;             \
		pthread_rwlock_rdlock(&calls);           \
		rv = real->name args;                    \
		pthread_rwlock_unlock(&calls);           \
		return rv;                               \
	}

WRAP(C_GetSessionInfo, (CK_SESSION_HANDLE s, CK_SESSION_INFO_PTR i), (s, i))
WRAP(C_Login, (CK_SESSION_HANDLE s, CK_USER_TYPE u, CK_UTF8CHAR_PTR p, CK_ULONG l), (s, u, p, l))
WRAP(C_GetAttributeValue, (CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_PTR t, CK_ULONG n), (s, o, t, n))
WRAP(C_FindObjectsInit, (CK_SESSION_HANDLE s, CK_ATTRIBUTE_PTR t, CK_ULONG n), (s, t, n))
WRAP(C_FindObjects, (CK_SESSION_HANDLE s, CK_OBJECT_HANDLE_PTR o, CK_ULONG m, CK_ULONG_PTR n), (s, o, m, n))
WRAP(C_FindObjectsFinal, (CK_SESSION_HANDLE s), (s))
WRAP(C_SignInit, (CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k), (s, m, k))
WRAP(C_Sign, (CK_SESSION_HANDLE s, CK_BYTE_PTR d, CK_ULONG dl, CK_BYTE_PTR sig, CK_ULONG_PTR sl), (s, d, dl, sig, sl))
WRAP(C_SignUpdate, (CK_SESSION_HANDLE s, CK_BYTE_PTR p, CK_ULONG l), (s, p, l))
WRAP(C_SignFinal, (CK_SESSION_HANDLE s, CK_BYTE_PTR sig, CK_ULONG_PTR sl), (s, sig, sl))
WRAP(C_GenerateRandom, (CK_SESSION_HANDLE s, CK_BYTE_PTR b, CK_ULONG l), (s, b, l))

/* Opening and closing sessions take the read lock too (no fault: a fault
 * there is a token that cannot be reached, which device_error on the
 * session calls already shows). */
static CK_RV shim_C_OpenSession(CK_SLOT_ID slot, CK_FLAGS flags, CK_VOID_PTR app, CK_NOTIFY notify, CK_SESSION_HANDLE_PTR s) {
	pthread_rwlock_rdlock(&calls);
	CK_RV rv = real->C_OpenSession(slot, flags, app, notify, s);
	pthread_rwlock_unlock(&calls);
	return rv;
}

static CK_RV shim_C_CloseSession(CK_SESSION_HANDLE s) {
	pthread_rwlock_rdlock(&calls);
	CK_RV rv = real->C_CloseSession(s);
	pthread_rwlock_unlock(&calls);
	return rv;
}

CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR list) {
	if (!list) return CKR_ARGUMENTS_BAD;
	if (!real) {
		const char *path = getenv("OCES_P11SHIM_MODULE");
		void *h = dlopen(path && *path ? path : "/usr/lib/softhsm/libsofthsm2.so", RTLD_NOW | RTLD_LOCAL);
		if (!h) return CKR_GENERAL_ERROR;
		CK_C_GetFunctionList get = (CK_C_GetFunctionList)dlsym(h, "C_GetFunctionList");
		if (!get || get(&real) != CKR_OK) return CKR_GENERAL_ERROR;
		shim = *real;
		shim.C_GetSessionInfo = shim_C_GetSessionInfo;
		shim.C_Login = shim_C_Login;
		shim.C_GetAttributeValue = shim_C_GetAttributeValue;
		shim.C_FindObjectsInit = shim_C_FindObjectsInit;
		shim.C_FindObjects = shim_C_FindObjects;
		shim.C_FindObjectsFinal = shim_C_FindObjectsFinal;
		shim.C_SignInit = shim_C_SignInit;
		shim.C_Sign = shim_C_Sign;
		shim.C_SignUpdate = shim_C_SignUpdate;
		shim.C_SignFinal = shim_C_SignFinal;
		shim.C_GenerateRandom = shim_C_GenerateRandom;
		shim.C_OpenSession = shim_C_OpenSession;
		shim.C_CloseSession = shim_C_CloseSession;
	}
	*list = &shim;
	return CKR_OK;
}
