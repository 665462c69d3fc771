;
; greyprint's built-in SYN signatures (p0f 3 .fp grammar, [tcp:request] only).
;
; Written for greyprint from what current stacks send in their default client
; SYN, checked against labelled public SYN collections (see the package README,
; "Signatures"). Read by greyprint's own engine; `greyprint fingerprint
; --signatures /etc/p0f/p0f.fp` uses p0f's database instead.
;
; Field order: ver:ittl:olen:mss:wsize,scale:olayout:quirks:pclass. The first
; specific (s:) match in file order wins, then the first generic (g:) one,
; then the first fuzzy one, exactly as p0f matches.
;
; Desktop or Server: Windows Server 2016 to 2025 send the same SYN as Windows
; 10 and 11, 2008 R2 and 2012 the same as 7 and 8. A label never claims the
; edition; greyprint's desktop/server evidence (a Server pin, verified rDNS)
; decides, and the labels avoid the word that marks a Server label.
;
; IPv6: Linux, the BSDs and Apple stacks set a flow label on every IPv6 SYN,
; which p0f's `*` signatures cannot match (the `flow` quirk); each of those
; families has IPv6 signatures with `flow` below. Windows sends no flow label.
;

classes = win,unix,other

[tcp:request]

; ------------
; Windows NT 10.0 (10, 11; Server 2016-2025 send the same SYN)
; ------------

; 64240 is fixed whatever the MSS (44 x 1460); behind a link with a smaller
; MSS, Windows picks the multiple of the MSS nearest above 64 KB - 1.3 KB.
label = s:win:Windows:10 or 11 (or 2016+ edition)
sig   = *:128:0:*:64240,8:mss,nop,ws,nop,nop,sok:df,id+:0
sig   = *:128:0:*:mss*45,8:mss,nop,ws,nop,nop,sok:df,id+:0
sig   = *:128:0:*:mss*46,8:mss,nop,ws,nop,nop,sok:df,id+:0
sig   = *:128:0:*:mss*47,8:mss,nop,ws,nop,nop,sok:df,id+:0
sig   = *:128:0:*:mss*48,8:mss,nop,ws,nop,nop,sok:df,id+:0
sig   = *:128:0:*:mss*49,8:mss,nop,ws,nop,nop,sok:df,id+:0
sig   = *:128:0:*:mss*50,8:mss,nop,ws,nop,nop,sok:df,id+:0
sig   = *:128:0:*:mss*51,8:mss,nop,ws,nop,nop,sok:df,id+:0
sig   = *:128:0:*:mss*52,8:mss,nop,ws,nop,nop,sok:df,id+:0
sig   = *:128:0:*:mss*53,8:mss,nop,ws,nop,nop,sok:df,id+:0
sig   = *:128:0:*:65535,8:mss,nop,ws,nop,nop,sok:df,id+:0

; RFC 1323 timestamps switched on (netsh int tcp set global timestamps=enabled):
; Windows then sends mss,nop,ws,sok,ts - p0f 3.09b has no signature for it.
label = s:win:Windows:10 or 11 (timestamps on)
sig   = *:128:0:*:64240,8:mss,nop,ws,sok,ts:df,id+:0
sig   = *:128:0:*:65535,8:mss,nop,ws,sok,ts:df,id+:0

; Window scaling switched off (autotuning disabled).
label = s:win:Windows:10 or 11 (no window scaling)
sig   = *:128:0:*:64240,0:mss,nop,nop,sok:df,id+:0

; ------------
; Windows NT 6.x (Vista, 7, 8, 8.1; 2008 to 2012 R2 send the same SYN)
; ------------

label = s:win:Windows:7 or 8
sig   = *:128:0:*:8192,2:mss,nop,ws,nop,nop,sok:df,id+:0
sig   = *:128:0:*:8192,0:mss,nop,ws,nop,nop,sok:df,id+:0
sig   = *:128:0:*:8192,0:mss,nop,nop,sok:df,id+:0
sig   = *:128:0:*:8192,2:mss,nop,ws,sok,ts:df,id+:0

; Scale factor 8 is Windows 8 and 8.1, also 7 with autotuning tweaked, and
; the first Windows 10 builds (1507-1703) before the 64240 window.
label = s:win:Windows:7, 8 or early 10
sig   = *:128:0:*:8192,8:mss,nop,ws,nop,nop,sok:df,id+:0
sig   = *:128:0:*:8192,8:mss,nop,ws,sok,ts:df,id+:0

; ------------
; Windows NT 5.x (2000, XP, 2003)
; ------------

label = s:win:Windows:XP
sig   = *:128:0:*:65535,0:mss,nop,nop,sok:df,id+:0
sig   = *:128:0:*:16384,0:mss,nop,nop,sok:df,id+:0
sig   = *:128:0:*:64512,0:mss,nop,nop,sok:df,id+:0
sig   = *:128:0:*:65535,0:mss,nop,ws,nop,nop,sok:df,id+:0
sig   = *:128:0:*:65535,1:mss,nop,ws,nop,nop,sok:df,id+:0
sig   = *:128:0:*:65535,2:mss,nop,ws,nop,nop,sok:df,id+:0

; Windows 95 (initial TTL 32), 98 and NT 4: the MSS option alone.
label = s:win:Windows:95, 98 or NT 4
sig   = *:128:0:*:8192,0:mss:df,id+:0
sig   = *:32:0:*:8192,0:mss:df,id+:0

; Anything else with Windows' option layouts and initial TTL 128.
label = g:win:Windows:NT kernel
sig   = *:128:0:*:*,*:mss,nop,ws,nop,nop,sok:df,id+:0
sig   = *:128:0:*:*,*:mss,nop,nop,sok:df,id+:0

; ------------
; Linux (and Android, ChromeOS: the same kernel)
; ------------

; 4.19 raised the SYN window to about 64 KB: 64240 (44 x 1460), kept when the
; MSS is smaller; scale 7 with the default tcp_rmem, more with larger buffers.
label = s:unix:Linux:4.19 and newer
sig   = *:64:0:*:64240,7:mss,sok,ts,nop,ws:df,id+:0
sig   = *:64:0:*:64240,8:mss,sok,ts,nop,ws:df,id+:0
sig   = *:64:0:*:64240,9:mss,sok,ts,nop,ws:df,id+:0
sig   = *:64:0:*:64240,10:mss,sok,ts,nop,ws:df,id+:0
sig   = *:64:0:*:mss*45,7:mss,sok,ts,nop,ws:df,id+:0
sig   = *:64:0:*:mss*46,7:mss,sok,ts,nop,ws:df,id+:0
sig   = *:64:0:*:mss*47,7:mss,sok,ts,nop,ws:df,id+:0
sig   = *:64:0:*:mss*48,7:mss,sok,ts,nop,ws:df,id+:0
sig   = 6:64:0:*:64240,7:mss,sok,ts,nop,ws:flow:0
sig   = 6:64:0:*:64240,8:mss,sok,ts,nop,ws:flow:0
sig   = 6:64:0:*:64240,9:mss,sok,ts,nop,ws:flow:0
sig   = 6:64:0:*:64240,10:mss,sok,ts,nop,ws:flow:0
sig   = 6:64:0:*:mss*45,7:mss,sok,ts,nop,ws:flow:0
sig   = 6:64:0:*:mss*46,7:mss,sok,ts,nop,ws:flow:0
sig   = 6:64:0:*:mss*47,7:mss,sok,ts,nop,ws:flow:0
sig   = 6:64:0:*:mss*48,7:mss,sok,ts,nop,ws:flow:0

; 3.11 to 4.18: 20 x MSS (87380-byte buffers), or 10 x MSS on 3.x (IW10).
label = s:unix:Linux:3.x-4.18
sig   = *:64:0:*:mss*20,7:mss,sok,ts,nop,ws:df,id+:0
sig   = *:64:0:*:mss*20,6:mss,sok,ts,nop,ws:df,id+:0
sig   = *:64:0:*:mss*20,9:mss,sok,ts,nop,ws:df,id+:0
sig   = *:64:0:*:mss*20,10:mss,sok,ts,nop,ws:df,id+:0
sig   = *:64:0:*:29200,7:mss,sok,ts,nop,ws:df,id+:0
sig   = *:64:0:*:mss*10,4:mss,sok,ts,nop,ws:df,id+:0
sig   = *:64:0:*:mss*10,5:mss,sok,ts,nop,ws:df,id+:0
sig   = *:64:0:*:mss*10,6:mss,sok,ts,nop,ws:df,id+:0
sig   = *:64:0:*:mss*10,7:mss,sok,ts,nop,ws:df,id+:0
sig   = 6:64:0:*:mss*20,7:mss,sok,ts,nop,ws:flow:0
sig   = 6:64:0:*:mss*10,7:mss,sok,ts,nop,ws:flow:0

label = s:unix:Linux:2.6.x
sig   = *:64:0:*:mss*4,6:mss,sok,ts,nop,ws:df,id+:0
sig   = *:64:0:*:mss*4,7:mss,sok,ts,nop,ws:df,id+:0
sig   = *:64:0:*:mss*4,8:mss,sok,ts,nop,ws:df,id+:0

label = s:unix:Linux:2.4.x
sig   = *:64:0:*:mss*4,0:mss,sok,ts,nop,ws:df,id+:0
sig   = *:64:0:*:mss*4,1:mss,sok,ts,nop,ws:df,id+:0
sig   = *:64:0:*:mss*4,2:mss,sok,ts,nop,ws:df,id+:0

; Android sets its own buffer sizes: a 65535 window with scale 6 to 10.
label = s:unix:Linux:Android (or large buffers)
sig   = *:64:0:*:65535,6:mss,sok,ts,nop,ws:df,id+:0
sig   = *:64:0:*:65535,7:mss,sok,ts,nop,ws:df,id+:0
sig   = *:64:0:*:65535,8:mss,sok,ts,nop,ws:df,id+:0
sig   = *:64:0:*:65535,9:mss,sok,ts,nop,ws:df,id+:0
sig   = *:64:0:*:65535,10:mss,sok,ts,nop,ws:df,id+:0
sig   = 6:64:0:*:65535,8:mss,sok,ts,nop,ws:flow:0
sig   = 6:64:0:*:65535,9:mss,sok,ts,nop,ws:flow:0

label = g:unix:Linux:
sig   = *:64:0:*:*,*:mss,sok,ts,nop,ws:df,id+:0
sig   = 6:64:0:*:*,*:mss,sok,ts,nop,ws:flow:0
sig   = *:64:0:*:*,*:mss,nop,nop,sok,nop,ws:df,id+:0
sig   = 6:64:0:*:*,*:mss,nop,nop,sok,nop,ws:flow:0

; ------------
; Apple: macOS and iOS (the same stack; scale 5-7 on current releases)
; ------------

label = s:unix:macOS:or iOS
sig   = *:64:0:*:65535,5:mss,nop,ws,nop,nop,ts,sok,eol+1:df,id+:0
sig   = *:64:0:*:65535,6:mss,nop,ws,nop,nop,ts,sok,eol+1:df,id+:0
sig   = *:64:0:*:65535,7:mss,nop,ws,nop,nop,ts,sok,eol+1:df,id+:0
sig   = 6:64:0:*:65535,5:mss,nop,ws,nop,nop,ts,sok,eol+1:flow:0
sig   = 6:64:0:*:65535,6:mss,nop,ws,nop,nop,ts,sok,eol+1:flow:0
sig   = 6:64:0:*:65535,7:mss,nop,ws,nop,nop,ts,sok,eol+1:flow:0

label = s:unix:Mac OS X:10.x
sig   = *:64:0:*:65535,1:mss,nop,ws,nop,nop,ts,sok,eol+1:df,id+:0
sig   = *:64:0:*:65535,3:mss,nop,ws,nop,nop,ts,sok,eol+1:df,id+:0
sig   = *:64:0:*:65535,4:mss,nop,ws,nop,nop,ts,sok,eol+1:df,id+:0

label = g:unix:macOS:
sig   = *:64:0:*:*,*:mss,nop,ws,nop,nop,ts,sok,eol+1:df,id+:0
sig   = 6:64:0:*:*,*:mss,nop,ws,nop,nop,ts,sok,eol+1:flow:0
sig   = *:64:0:*:65535,*:mss,nop,ws,nop,nop,ts:df,id+:0

; ------------
; BSD
; ------------

label = s:unix:FreeBSD:9 or newer
sig   = *:64:0:*:65535,6:mss,nop,ws,sok,ts:df,id+:0
sig   = 6:64:0:*:65535,6:mss,nop,ws,sok,ts:flow:0

label = s:unix:FreeBSD:8.x
sig   = *:64:0:*:65535,3:mss,nop,ws,sok,ts:df,id+:0

label = g:unix:FreeBSD:
sig   = *:64:0:*:*,*:mss,nop,ws,sok,ts:df,id+:0
sig   = 6:64:0:*:*,*:mss,nop,ws,sok,ts:flow:0

; FreeBSD's layout with Windows' TTL: after FreeBSD's generic signature, so
; that a SYN matching neither exactly is FreeBSD's fuzzy match, not Windows'
; (the first fuzzy match in file order wins).
label = g:win:Windows:NT kernel
sig   = *:128:0:*:*,*:mss,nop,ws,sok,ts:df,id+:0

label = s:unix:OpenBSD:
sig   = *:64:0:*:16384,0:mss,nop,nop,sok,nop,ws,nop,nop,ts:df,id+:0
sig   = *:64:0:*:16384,3:mss,nop,nop,sok,nop,ws,nop,nop,ts:df,id+:0
sig   = *:64:0:*:16384,6:mss,nop,nop,sok,nop,ws,nop,nop,ts:df,id+:0

label = g:unix:OpenBSD:
sig   = *:64:0:*:*,*:mss,nop,nop,sok,nop,ws,nop,nop,ts:df,id+:0
sig   = *:64:0:*:*,*:mss,nop,nop,sok,nop,ws,nop,nop,ts::0
