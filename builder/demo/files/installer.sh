#!/bin/sh
# Golden Demo Linux installer (DEMO MEDIA, not Red Hat Enterprise Linux).
#
# Finds the kickstart as Anaconda does (inst.ks=/ks=, else a device labelled
# OEMDRV), checks all of it, then partitions, formats, unpacks the demo base
# system, configures it, installs extlinux, runs %post and powers off. Every
# step is reported on the console as one "golden-installer: " line; golden's
# watchdog reads them. On any error it reports "FAILED: reason" and stays
# idle, like Anaconda showing an error dialog.
#
# `installer.sh --check KS` reads and checks a kickstart on a build host
# (busybox sh) without touching anything, for tests.

export PATH=/usr/sbin:/usr/bin:/sbin:/bin
GOLDEN_LIB=${GOLDEN_LIB:-/usr/lib/golden}
. $GOLDEN_LIB/lib.sh
. $GOLDEN_LIB/ks.sh
. $GOLDEN_LIB/disks.sh
. $GOLDEN_LIB/configure.sh

LOG=/tmp/golden-install.log
SYSIMAGE=/mnt/sysimage
KS_FILE=/tmp/ks.cfg
KS_DIR=/tmp/ks
KS_DEVICE=
MOUNTED=
CHECK_ONLY=

log() {
    printf '%s INFO golden-installer: %s\n' "$(date +%H:%M:%S)" "$*" >>$LOG
}

say() {
    log "$*"
    emit "golden-installer: $*"
}

stage() {
    say "stage=$1"
}

fail() {
    say "FAILED: $*"
    [ -n "$CHECK_ONLY" ] && exit 1
    # the end of the log, for whoever reads the console
    tail -n 12 $LOG | while IFS= read -r _l; do emit "golden-installer-log: $_l"; done
    sync
    # golden.shell on the kernel command line: a root shell to look around
    has_cmdline_flag golden.shell && setsid cttyhack sh -l </dev/console >/dev/console 2>&1
    while :; do sleep 3600; done
}

ks_fail() {
    fail "$@"
}

# --- devices --------------------------------------------------------------

block_devices() {
    for _p in /sys/class/block/*; do
        _n=${_p##*/}
        case $_n in
            loop*|ram*|zram*|nbd*|dm-*|md*) continue ;;
        esac
        echo "$_n"
    done
}

# Report fields are space- and comma-separated: those characters (and %)
# are percent-encoded in labels and file names.
field() {
    _v=$(printf '%s' "$1" | sed 's/%/%25/g; s/ /%20/g; s/,/%2c/g')
    echo "${_v:--}"
}

# mount_ro DEV DIR [FSTYPE]: mount a medium read-only for reading files
mount_ro() {
    mkdir -p "$2"
    case ${3:-auto} in
        vfat) mount -t vfat -o ro,utf8 "/dev/$1" "$2" ;;
        auto) mount -o ro "/dev/$1" "$2" ;;
        *) mount -t "$3" -o ro "/dev/$1" "$2" ;;
    esac >>$LOG 2>&1 || { log "cannot mount $1 (${3:-auto})"; return 1; }
}

report_devices() {
    for _n in $(block_devices); do
        _size=$(dev_size $_n)
        DEV_TYPE=
        DEV_LABEL=
        [ "$_size" -gt 0 ] && dev_probe $_n
        _files=
        case $DEV_TYPE in
            iso9660|vfat)
                if mount_ro $_n /tmp/probe $DEV_TYPE; then
                    _files=$(ls -A /tmp/probe | while IFS= read -r _f; do field "$_f"; done | tr '\n' ',')
                    umount /tmp/probe
                fi ;;
        esac
        _line="device name=$_n size=$_size fstype=${DEV_TYPE:-none} label=$(field "$DEV_LABEL")"
        case $DEV_TYPE in
            iso9660|vfat) _line="$_line files=${_files%,}" ;;
        esac
        say "$_line"
    done
}

media_check() {
    for _n in $(block_devices); do
        [ "$(dev_size $_n)" -gt 0 ] || continue
        dev_probe $_n
        [ "$DEV_LABEL" = "$GOLDEN_LABEL" ] || continue
        _sum=$(sha256sum /dev/$_n | cut -d' ' -f1)
        say "media-check device=$_n sha256=$_sum"
        return 0
    done
    say "media-check device=none (the install medium $GOLDEN_LABEL is not attached)"
}

# --- kickstart sources ----------------------------------------------------

# Find the devices that match a spec: a name (sr0, /dev/sdb1), LABEL=x,
# UUID=x, or "cd" for every CD drive.
match_devices() {
    for _n in $(block_devices); do
        [ "$(dev_size $_n)" -gt 0 ] || continue
        case $1 in
            cd)
                case $_n in sr*) echo $_n ;; esac ;;
            LABEL=*|CDLABEL=*)
                dev_probe $_n
                [ "$DEV_LABEL" = "${1#*=}" ] && echo $_n ;;
            UUID=*)
                dev_probe $_n
                [ "$DEV_UUID" = "${1#UUID=}" ] && echo $_n ;;
            *)
                [ "$_n" = "${1#/dev/}" ] && echo $_n ;;
        esac
    done
}

# fetch_from_devices SPEC PATH SCHEME: copy PATH from the first matching
# device that has it; sets KS_RESOLVED and KS_DEVICE.
fetch_from_devices() {
    for _n in $(match_devices "$1"); do
        dev_probe $_n
        mount_ro $_n /tmp/ksmedia $DEV_TYPE || continue
        if [ -f "/tmp/ksmedia$2" ]; then
            cp "/tmp/ksmedia$2" $KS_FILE
            umount /tmp/ksmedia
            KS_RESOLVED="$3:$_n:$2"
            KS_DEVICE=$_n
            return 0
        fi
        umount /tmp/ksmedia
    done
    return 1
}

# ip=dhcp (default) or ip=ADDR::GW:MASK:HOST:IFACE:none as dracut reads it
network_up() {
    [ -n "$NET_UP" ] && return 0
    _ipa=$(cmdline_arg ip) || _ipa=dhcp
    _if=$(cmdline_arg ksdevice) || _if=
    case $_ipa in
        *:*)
            IFS=: read _addr _peer _gw _mask _host _ifn _auto <<EOF
$_ipa
EOF
            _if=${_ifn:-$_if} ;;
    esac
    case $_if in
        ''|link|bootif) set -- $(nic_names); _if=$1 ;;
        *:*:*:*:*:*) _if=$(resolve_nic "$_if") ;;
    esac
    [ -n "$_if" ] || return 1
    ip link set lo up
    ip link set "$_if" up || return 1
    if [ -n "$_addr" ]; then
        ip addr add "$_addr/${_mask:-255.255.255.0}" dev "$_if" || return 1
        [ -n "$_gw" ] && ip route add default via "$_gw"
    else
        udhcpc -i "$_if" -n -q -t 5 -T 2 -s /usr/share/udhcpc/default.script >>$LOG 2>&1 || return 1
    fi
    log "network up on $_if: $(ip -4 addr show dev "$_if" | awk '/inet / { print $2 }')"
    NET_UP=1
}

fetch_url() {
    network_up || { log "network did not come up"; return 1; }
    log "fetching $1"
    rm -f $KS_FILE
    # (busybox 1.35's wget -T crashes; timeout bounds it instead)
    timeout 10 wget -q -O $KS_FILE "$1" >>$LOG 2>&1 && { KS_RESOLVED=$1; return 0; }
    rm -f $KS_FILE
    return 1
}

# One attempt at the source given by inst.ks=/ks=. Returns 2 for a source the
# demo does not support (no point retrying).
try_ks_source() {
    _src=$1
    case $_src in
        file:*)
            _p=${_src#file:}
            [ -f "$_p" ] || return 1
            [ "$_p" = $KS_FILE ] || cp "$_p" $KS_FILE
            KS_RESOLVED="file:$_p" ;;
        cdrom)
            fetch_from_devices cd /ks.cfg cdrom ;;
        cdrom:/*)
            fetch_from_devices cd "${_src#cdrom:}" cdrom ;;
        cdrom:*:/*)
            _r=${_src#cdrom:}
            fetch_from_devices "${_r%%:/*}" "/${_r#*:/}" cdrom ;;
        hd:*:/*)
            _r=${_src#hd:}
            fetch_from_devices "${_r%%:/*}" "/${_r#*:/}" hd ;;
        http://*|ftp://*)
            fetch_url "$_src" ;;
        *)
            return 2 ;;
    esac
}

locate_kickstart() {
    _src=$(cmdline_arg inst.ks) || _src=$(cmdline_arg ks) || _src=
    if [ -z "$_src" ]; then
        if cmdline_arg inst.ks >/dev/null || cmdline_arg ks >/dev/null; then
            fail "kickstart source 'ks' without a location (NFS from DHCP) is not supported by the demo media"
        fi
        # Anaconda's automatic look-up: a device labelled OEMDRV with /ks.cfg
        if fetch_from_devices LABEL=OEMDRV /ks.cfg hd; then
            return 0
        fi
        fail "no kickstart found"
    fi
    _t=0
    while :; do
        try_ks_source "$_src"
        case $? in
            0) return 0 ;;
            2) fail "kickstart source '$_src' is not supported by the demo media (file:, cdrom:, hd:, http:, ftp:)" ;;
        esac
        # devices may still be probing and networks coming up: about 15 s
        _t=$((_t + 1))
        [ $_t -ge 8 ] && break
        sleep 2
    done
    fail "kickstart not found at '$_src'"
}

run_pre() {
    run_script "$1" "" "/tmp/ks-pre.log${2:+ $2}" pre "$KS_WHERE" "$3"
}

read_kickstart() {
    rm -rf $KS_DIR
    mkdir -p $KS_DIR
    # first pass: %pre sections only, run as they come (they may write %include files)
    awk -v ks="$KS_FILE" -v mode=pre -v dir=$KS_DIR -f $GOLDEN_LIB/ks-parse.awk >$KS_DIR/pre.sh ||
        fail "cannot read the kickstart"
    if [ -z "$CHECK_ONLY" ]; then
        ks_section() { ks_pre_section "$@"; }
        . $KS_DIR/pre.sh
    fi
    unset -f ks_section 2>/dev/null
    . $GOLDEN_LIB/ks.sh
    ks_reset
    awk -v ks="$KS_FILE" -v mode=all -v dir=$KS_DIR -f $GOLDEN_LIB/ks-parse.awk >$KS_DIR/plan.sh ||
        fail "cannot read the kickstart"
    . $KS_DIR/plan.sh
    [ -n "$KS_SOURCE_LINE" ] && log "install source '$KS_SOURCE_LINE' (the demo media carries its own payload)"
    log "kickstart read: $P_COUNT partitions, $NET_COUNT network lines, $POST_COUNT %post sections, then $KS_ACTION"
}

finish() {
    case $KS_ACTION in
        poweroff) poweroff -f ;;
        reboot) reboot -f ;;
        *) halt -f ;;
    esac
    while :; do sleep 3600; done
}

main() {
    say "$GOLDEN_NAME $GOLDEN_VERSION installer - DEMO MEDIA, not Red Hat Enterprise Linux (kernel $(uname -r))"
    say "cmdline=$(cat /proc/cmdline)"
    load_modules
    settle_devices 8
    report_devices
    has_cmdline_flag rd.live.check && media_check

    stage reading-kickstart
    locate_kickstart
    say "ks-source=$KS_RESOLVED"
    say "ks-sha256=$(sha256sum $KS_FILE | cut -d' ' -f1)"
    read_kickstart
    plan_disks

    stage partitioning
    partition_disks
    stage formatting
    format_partitions
    mount_target

    stage installing
    install_payload
    bind_target
    write_accounts
    write_fstab
    write_network
    write_locale_and_time
    write_records
    write_identity

    stage bootloader
    install_bootloader

    stage post
    save_logs
    run_post

    stage done
    unbind_target
    save_logs
    umount_target
    say "result=ok"
    sleep 1
    finish
}

if [ "$1" = --check ]; then
    # Read and check a kickstart on a build host; nothing is written but /tmp.
    CHECK_ONLY=1
    GOLDEN_STDOUT=1
    TMPD=$(mktemp -d)
    trap 'rm -rf "$TMPD"' EXIT
    LOG=$TMPD/install.log
    KS_DIR=$TMPD/ks
    KS_FILE=$2
    read_kickstart
    say "kickstart ok"
    exit 0
fi

: >$LOG
detect_consoles
main
