// The configuration and files test/http-rewrite.test.ts serves from both
// nginx and nodinx: one location per behaviour of the rewrite module,
// try_files and add_header, named after what it shows.

const FILE_OPS: Record<string, string> = { f: '-f', nf: '!-f', d: '-d', nd: '!-d', e: '-e', ne: '!-e', x: '-x', nx: '!-x' };

const fileOpLocations = Object.entries(FILE_OPS)
  .map(([name, op]) => `            location /fop/${name} { if (${op} $document_root$arg_p) { return 200 "yes\\n"; } return 200 "no\\n"; }`)
  .join('\n');

export const REWRITE_CONFIG = `
worker_processes 1;
events { worker_connections 64; }
http {
    include mime.types;
    default_type application/octet-stream;
    error_log logs/error.log notice;
    log_format cmp '"$request" $status $body_bytes_sent u="$uri" a="$args" q="$query_string" l="$sent_http_location"';
    access_log logs/access.log cmp;
    add_header X-Http http;

    server {
        listen {PORT} default_server;
        server_name localhost;
        root html;
        rewrite_log on;

        rewrite ^/srv-old/(.*)$ /a.txt;
        rewrite ^/srv-last/(.*)$ /last-target/$1 last;
        if ($arg_srvret) {
            return 200 "server if $arg_srvret\\n";
        }

        location / {
        }
        location /last-target/ {
            return 200 "last target $uri $args\\n";
        }
        location /rw/ {
            rewrite ^/rw/plain/(.*)$ /a.txt;
            rewrite ^/rw/args/(.*)$ /echo?x=$1 last;
            rewrite ^/rw/drop/(.*)$ /echo? last;
            rewrite ^/rw/keep/(.*)$ /echo last;
            rewrite ^/rw/both/(.*)$ /echo?x=$1? last;
            rewrite ^/rw/redirect/(.*)$ /new/$1 redirect;
            rewrite ^/rw/permanent/(.*)$ /new/$1?p=1 permanent;
            rewrite ^/rw/url/(.*)$ http://example.com/$1;
            rewrite ^/rw/scheme/(.*)$ $scheme://$host/s/$1?;
            rewrite ^/rw/break/(.*)$ /b/$1 break;
            rewrite ^/rw/last/(.*)$ /echo?last=$1 last;
            rewrite "^/rw/named/(?<first>[^/]+)/(?<second>.*)$" /echo-named?f=$first last;
            rewrite ^/rw/empty ?;
            return 404 "fell through $uri $args\\n";
        }
        location = /echo {
            return 200 "echo uri=$uri args=$args is_args=$is_args x=$arg_x\\n";
        }
        location = /echo-named {
            return 200 "named first=$first second=$second args=$args\\n";
        }
        location ~ ^/cap2/(.*)$ {
            rewrite ^ /echo?x=$1 last;
        }
        location /toint {
            rewrite ^/toint/(.*)$ /int/$1 last;
        }
        location /int/ {
            internal;
            return 200 "internal $uri\n";
        }
        location /setif/ {
            set $mode "a$arg_m";
            if ($mode = ab) { return 200 "mode ab\n"; }
            return 200 "mode $mode\n";
        }
        location /tfnamed2/ { try_files /nope @rewriting; }
        location @rewriting { rewrite ^/tfnamed2/(.*)$ /echo?n=$1 last; }
        location /loop/ {
            rewrite ^ /loop/again;
        }
        location /loop2/ {
            rewrite ^ /loop2/x last;
        }
        location /nolog/ {
            rewrite_log off;
            rewrite ^ /echo;
        }
        location /alias-rw/ {
            alias html/sub/;
            rewrite ^ /alias-rw/s.txt break;
        }
        location /brk/ {
            rewrite ^ /a.txt;
            break;
            rewrite ^ /index.html;
        }
        location /ifbreak/ {
            if ($arg_b) {
                rewrite ^ /a.txt;
                break;
            }
            rewrite ^ /index.html;
        }

        location /ret/ {
            location /ret/text { return 200 "text $uri $request_method\\n"; }
            location /ret/status { return 202 "status $status\\n"; }
            location /ret/307status { return 307 /s/$status; }
            location /ret/html.html { return 200 "<p>html</p>"; }
            location /ret/301 { return 301 /elsewhere?q=1; }
            location /ret/302url { return https://example.com$request_uri; }
            location /ret/303 { return 303 relative; }
            location /ret/307 { return 307 $uri/x; }
            location /ret/308 { return 308 http://h.test/x; }
            location /ret/302empty { return 302; }
            location /ret/404text { return 404 "custom not found\\n"; }
            location /ret/404empty { return 404 ""; }
            location /ret/404 { return 404; }
            location /ret/410 { error_page 410 /a.txt; return 410; }
            location /ret/444 { return 444; }
            location /ret/204 { return 204 "ignored"; }
            location /ret/200 { return 200; }
            location /ret/500 { return 500 "err $args"; }
            location /ret/418 { return 418 "teapot"; }
            location /ret/999 { return 999 "odd"; }
            location /ret/0 { return 0; }
            location /ret/1 { return 1; }
            location /ret/99 { return 99 "ninety-nine"; }
        }

        location /set/ {
            set $a "A-$uri";
            set $b $a$a;
            set $args "n=1";
            return 200 "a=$a b=$b args=$args arg_n=$arg_n is_args=$is_args\\n";
        }
        location /uninit/ {
            return 200 "[$never]\\n";
        }
        location /uninit-off/ {
            uninitialized_variable_warn off;
            return 200 "[$never]\\n";
        }
        location /never/ {
            set $never x;
        }

        location /if/ {
            if ($arg_v) { return 200 "v=$arg_v\\n"; }
            if ($arg_e = "x%20y") { return 200 "e is x%20y\\n"; }
            if ($arg_n != n) { return 200 "n is not n\\n"; }
            return 200 "no if matched\\n";
        }
        location /ifre/ {
            if ($uri ~ "^/ifre/(?<w1>[a-z]+)/(\\d+)$") { return 200 "m $1 $2 $w1\\n"; }
            if ($arg_q ~* ^AB(C)$) { return 200 "ci $1\\n"; }
            if ($arg_q !~ ^z) { return 200 "notz [$1]\\n"; }
            if ($arg_q !~* ^Z) { return 200 "never\\n"; }
            return 200 "z [$1]\\n";
        }
        location ~ ^/ifcap/(.*)$ {
            if ($arg_q ~ nomatch) { }
            return 200 "cap [$1]\\n";
        }
        location /fop/ {
${fileOpLocations}
        }
        location /ifloc/ {
            if ($arg_alt) { root html/alt; }
            if ($arg_hdr) { add_header X-If yes; }
            add_header X-Loc loc;
        }

        location /tf/ { try_files $uri $uri/ /tf/fallback.txt; }
        location /tfcode/ { try_files $uri =418; }
        location /tf404/ { try_files $uri =404; error_page 404 = /a.txt; }
        location /tfnamed/ { try_files $uri @named; }
        location @named { return 200 "named uri=$uri args=$args\\n"; }
        location /tfargs/ { try_files /nope /echo?x=$uri; }
        location /tfnoargs/ { try_files /nope /echo; }
        location /tfdir/ { try_files $uri/ =404; }
        location /tfalias/ { alias html/sub/; try_files $uri /tfalias/fb.txt; }
        location /tfloop/ { try_files /nope /tfloop/x; }
        location /tfif/ {
            if ($arg_x) { }
            try_files $uri /a.txt;
        }

        location /hdr/ {
            add_header X-A a;
            add_header X-Always yes always;
            add_header X-Empty "";
            add_header X-Var "$uri:$status";
            add_header Cache-Control no-cache;
            add_header Cache-Control private;
            location /hdr/etag {
                add_header ETag '"custom"';
                add_header Last-Modified "Tue, 01 Jan 2030 00:00:00 GMT";
            }
            location /hdr/noetag { add_header ETag ""; }
            location /hdr/inherit { }
            location /hdr/redirect { return 302 /x; }
        }
    }

    server {
        listen {PORT};
        server_name tf.test;
        root html;
        try_files $uri /a.txt;
        location /inloc/ { }
    }
}
`;

export const REWRITE_FILES: Record<string, string> = {
  'mime.types': 'types {\n text/html html htm;\n text/plain txt;\n}\n',
  'html/index.html': '<h1>index</h1>\n',
  'html/a.txt': 'a text file\n',
  'html/dir/index.html': 'dir index\n',
  'html/run.sh': '#!/bin/sh\n',
  'html/b/x.txt': 'b/x.txt after rewrite break\n',
  'html/sub/s.txt': 'sub/s.txt\n',
  'html/sub/fb.txt': 'sub/fb.txt fallback\n',
  'html/ifloc/f.txt': 'ifloc/f.txt\n',
  'html/alt/ifloc/f.txt': 'alt/ifloc/f.txt\n',
  'html/alt/ifloc/index.html': 'alt/ifloc/index.html\n',
  'html/tf/exists.txt': 'tf/exists.txt\n',
  'html/tf/fallback.txt': 'tf/fallback.txt\n',
  'html/tf/dir/index.html': 'tf/dir/index.html\n',
  'html/tfcode/f.txt': 'tfcode/f.txt\n',
  'html/tfdir/sub/index.html': 'tfdir/sub/index.html\n',
  'html/tfdir/file': 'tfdir/file\n',
  'html/hdr/file': '0123456789\n',
  'html/hdr/etag': 'hdr/etag\n',
  'html/hdr/noetag': 'hdr/noetag\n',
  'html/hdr/inherit': 'hdr/inherit\n',
};
