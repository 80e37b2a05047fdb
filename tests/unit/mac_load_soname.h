/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Force-included (-include) into the copy of src/mac.c that unit_mac_load
 * builds: the library mac.c dlopen()s is chosen by the test at run time
 * instead of the build's MAILOTP_LIBCRYPTO_SONAME.  Never in the module.
 */
#ifndef MAILOTP_MAC_LOAD_SONAME_H
#define MAILOTP_MAC_LOAD_SONAME_H

extern const char *mac_test_soname;
#define MAILOTP_LIBCRYPTO_SONAME mac_test_soname

#endif
