// Version numbers, in a module that imports nothing, so that any module can
// read them whatever the order in which modules load.

export const NODINX_VERSION = '0.1.0';
/** the nginx release whose behaviour nodinx follows ($nginx_version) */
export const NGINX_COMPAT_VERSION = '1.22.1';
