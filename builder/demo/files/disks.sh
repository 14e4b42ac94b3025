# Disks for the Golden Demo Linux installer (busybox ash; sourced): probe
# devices, choose the target disks, write MBR partition tables, make the file
# systems and mount them under $SYSIMAGE.
#
# Needs from the caller: fail MESSAGE, log MESSAGE, $LOG, $SYSIMAGE and the
# settings from ks.sh. busybox has no sfdisk or blkid and its mke2fs makes
# ext2 only, so util-linux's and e2fsprogs' tools are called by full path.

SFDISK=/usr/sbin/sfdisk
BLKID=/usr/sbin/blkid
MKE2FS=/usr/sbin/mke2fs

in_list() {
    _x=$1
    shift
    for _y in "$@"; do
        [ "$_x" = "$_y" ] && return 0
    done
    return 1
}

# dev_probe NAME: DEV_TYPE, DEV_LABEL, DEV_UUID, DEV_PTTYPE of /dev/NAME,
# read from the device itself (no blkid cache). `read` without -r undoes
# blkid's backslash escapes.
dev_probe() {
    DEV_TYPE=
    DEV_LABEL=
    DEV_UUID=
    DEV_PTTYPE=
    _out=$($BLKID -p -o export "/dev/$1" 2>/dev/null) || return 0
    while IFS='=' read _k _v; do
        case $_k in
            TYPE) DEV_TYPE=$_v ;;
            LABEL) DEV_LABEL=$_v ;;
            UUID) DEV_UUID=$_v ;;
            PTTYPE) DEV_PTTYPE=$_v ;;
        esac
    done <<EOF
$_out
EOF
}

# dev_size NAME: bytes, 0 for an empty drive
dev_size() {
    case $1 in
        sr*|fd*)
            # a CD drive without a disc reports a made-up capacity, a floppy
            # drive none until a disk is read: ask the drive
            if dd if=/dev/$1 of=/dev/null bs=512 count=1 2>/dev/null; then
                blockdev --getsize64 /dev/$1 2>/dev/null || echo 0
            else
                echo 0
            fi ;;
        *)
            _s=$(cat /sys/class/block/$1/size 2>/dev/null)
            echo $(( ${_s:-0} * 512 )) ;;
    esac
}

partitions_of() {
    for _p in /sys/block/$1/$1*; do
        [ -e "$_p/partition" ] && echo "${_p##*/}"
    done
}

part_name() {
    # part_name DISK N -> vda1, nvme0n1p1
    case $1 in
        *[0-9]) echo "${1}p$2" ;;
        *) echo "$1$2" ;;
    esac
}

# A disk the installer must not write: it (or a partition of it) is a
# kickstart disk (OEMDRV), the install medium, or where the kickstart came from.
disk_is_media() {
    for _n in $1 $(partitions_of $1); do
        [ -n "$KS_DEVICE" ] && [ "$_n" = "$KS_DEVICE" ] && return 0
        dev_probe $_n
        case $DEV_LABEL in
            OEMDRV|"$GOLDEN_LABEL") return 0 ;;
        esac
    done
    return 1
}

# Whole disks an install may use when the kickstart names none, in name
# order: writable, not removable, not empty, not media, not ignored.
candidate_disks() {
    for _p in /sys/block/*; do
        _d=${_p##*/}
        case $_d in
            vd*|sd*|hd*|xvd*|nvme*n*|mmcblk*) ;;
            *) continue ;;
        esac
        [ "$(cat $_p/ro)" = 0 ] || continue
        [ "$(cat $_p/removable)" = 0 ] || continue
        [ "$(cat $_p/size)" -gt 0 ] || continue
        [ -n "$KS_ONLY_USE" ] && ! in_list $_d $KS_ONLY_USE && continue
        in_list $_d $KS_IGNORE && continue
        disk_is_media $_d && continue
        echo $_d
    done
}

# Turn autopart into the plain layout Anaconda would make without LVM:
# /boot 512 MiB, swap (RAM-based, at most a tenth of the disk), / grows.
expand_autopart() {
    _disk=$1
    _mib=$(( $(dev_size $_disk) / 1048576 ))
    P_COUNT=0
    if [ -z "$KS_AUTOPART_NOBOOT" ]; then
        P_COUNT=$((P_COUNT + 1))
        eval "P_${P_COUNT}_mnt=/boot P_${P_COUNT}_fs=ext4 P_${P_COUNT}_size=512 P_${P_COUNT}_grow= P_${P_COUNT}_max= \
P_${P_COUNT}_disk= P_${P_COUNT}_primary= P_${P_COUNT}_label= P_${P_COUNT}_fsopts= P_${P_COUNT}_where=autopart"
    fi
    if [ -z "$KS_AUTOPART_NOSWAP" ]; then
        _swap=$(swap_recommended)
        [ $_swap -gt $((_mib / 10)) ] && _swap=$((_mib / 10))
        if [ $_swap -ge 16 ]; then
            P_COUNT=$((P_COUNT + 1))
            eval "P_${P_COUNT}_mnt=swap P_${P_COUNT}_fs=swap P_${P_COUNT}_size=\$_swap P_${P_COUNT}_grow= P_${P_COUNT}_max= \
P_${P_COUNT}_disk= P_${P_COUNT}_primary= P_${P_COUNT}_label= P_${P_COUNT}_fsopts= P_${P_COUNT}_where=autopart"
        fi
    fi
    P_COUNT=$((P_COUNT + 1))
    eval "P_${P_COUNT}_mnt=/ P_${P_COUNT}_fs=\$KS_AUTOPART_FSTYPE P_${P_COUNT}_size=1024 P_${P_COUNT}_grow=1 P_${P_COUNT}_max= \
P_${P_COUNT}_disk= P_${P_COUNT}_primary= P_${P_COUNT}_label= P_${P_COUNT}_fsopts= P_${P_COUNT}_where=autopart"
}

# Decide which disk every partition goes on, and check the disks may be
# written. Sets USED_DISKS, BOOT_PART (index of the partition holding /boot)
# and BOOT_DISK.
plan_disks() {
    CANDIDATES=$(candidate_disks)
    DEFAULT_DISK=
    for _d in $CANDIDATES; do DEFAULT_DISK=$_d; break; done
    log "candidate disks: ${CANDIDATES:-none}"
    [ -n "$KS_AUTOPART" ] && {
        [ -n "$DEFAULT_DISK" ] || fail "no disk to install to (need a writable, non-removable disk that is not install media)"
        expand_autopart $DEFAULT_DISK
    }
    [ $P_COUNT -gt 0 ] || fail "the kickstart has no partitioning (part or autopart)"
    USED_DISKS=
    ROOT_PART=
    BOOT_PART=
    _i=1
    while [ $_i -le $P_COUNT ]; do
        eval "_d=\$P_${_i}_disk _m=\$P_${_i}_mnt _w=\$P_${_i}_where"
        if [ -z "$_d" ]; then
            [ -n "$DEFAULT_DISK" ] || fail "no disk to install to for '$_m' (need a writable, non-removable disk that is not install media)"
            _d=$DEFAULT_DISK
        else
            [ -e /sys/block/$_d ] || fail "disk '$_d' for '$_m' (line $_w) not found"
            [ "$(cat /sys/block/$_d/ro)" = 0 ] || fail "disk '$_d' for '$_m' (line $_w) is read-only"
            [ -n "$KS_ONLY_USE" ] && ! in_list $_d $KS_ONLY_USE && fail "disk '$_d' for '$_m' (line $_w) is not in ignoredisk --only-use"
            in_list $_d $KS_IGNORE && fail "disk '$_d' for '$_m' (line $_w) is in ignoredisk --drives"
            disk_is_media $_d && fail "disk '$_d' for '$_m' (line $_w) is install or kickstart media"
        fi
        eval "P_${_i}_disk=\$_d"
        in_list $_d $USED_DISKS || USED_DISKS="$USED_DISKS $_d"
        [ "$_m" = / ] && ROOT_PART=$_i
        [ "$_m" = /boot ] && BOOT_PART=$_i
        _i=$((_i + 1))
    done
    [ -n "$ROOT_PART" ] || fail "the kickstart has no / partition"
    [ -n "$BOOT_PART" ] || BOOT_PART=$ROOT_PART
    eval "BOOT_DISK=\$P_${BOOT_PART}_disk"
    if [ -n "$KS_BL_DRIVE" ] && [ "$KS_BL_LOCATION" != none ] && [ "$KS_BL_DRIVE" != "$BOOT_DISK" ]; then
        fail "bootloader drive '$KS_BL_DRIVE' is not the disk holding /boot ('$BOOT_DISK'); the demo boots from the /boot disk"
    fi
    for _d in $USED_DISKS; do
        _parts=$(partitions_of $_d)
        [ -z "$_parts" ] && continue
        _clear=
        if [ "$KS_CLEAR" != none ]; then
            if [ -z "$KS_CLEAR_DRIVES" ] || in_list $_d $KS_CLEAR_DRIVES; then _clear=1; fi
        fi
        [ -n "$_clear" ] || fail "disk '$_d' has partitions and the kickstart does not clear them (clearpart --all --drives=$_d)"
        if [ "$KS_CLEAR" = linux ]; then
            for _p in $_parts; do
                _n=${_p##*[!0-9]}
                _t=$($SFDISK --part-type /dev/$_d $_n 2>/dev/null)
                case $_t in
                    83|82|8e|fd|5|f|85) ;;
                    *) fail "clearpart --linux: partition $_p (type $_t) is not a Linux partition; the demo clears whole disks only" ;;
                esac
            done
        fi
    done
    log "disks: ${USED_DISKS# }; /boot on partition #$BOOT_PART of $BOOT_DISK"
}

# Write the partition table of one disk. Fixed-size partitions come first in
# kickstart order, growing ones after them and share the rest; with more than
# four partitions the fourth slot is an extended partition.
partition_disk() {
    _disk=$1
    _order=
    for _pass in fixed grow; do
        _i=1
        while [ $_i -le $P_COUNT ]; do
            eval "_d=\$P_${_i}_disk _g=\$P_${_i}_grow"
            if [ "$_d" = "$_disk" ]; then
                case $_pass:$_g in
                    fixed:|grow:1) _order="$_order $_i" ;;
                esac
            fi
            _i=$((_i + 1))
        done
    done
    set -- $_order
    _n=$#
    _nlog=0
    if [ $_n -gt 4 ]; then
        _nlog=$((_n - 3))
        # --asprimary partitions must land in the three primary slots
        _k=0
        for _i in "$@"; do
            _k=$((_k + 1))
            eval "_pr=\$P_${_i}_primary _m=\$P_${_i}_mnt"
            [ -n "$_pr" ] && [ $_k -gt 3 ] && fail "too many partitions for an MBR disk with '$_m' --asprimary on $_disk"
        done
    fi
    _mib=$(( $(dev_size $_disk) / 1048576 ))
    _avail=$((_mib - 2 - _nlog))
    _fixed=0
    _ngrow=0
    for _i in "$@"; do
        eval "_s=\$P_${_i}_size _g=\$P_${_i}_grow"
        _fixed=$((_fixed + _s))
        [ -n "$_g" ] && _ngrow=$((_ngrow + 1))
    done
    [ $_fixed -le $_avail ] || fail "partitions on $_disk need $_fixed MiB but the disk has $_avail MiB"
    _extra=$((_avail - _fixed))
    _script="label: dos"
    _k=0
    _num=0
    for _i in "$@"; do
        _k=$((_k + 1))
        eval "_s=\$P_${_i}_size _g=\$P_${_i}_grow _max=\$P_${_i}_max _fs=\$P_${_i}_fs"
        _sizefield="size=${_s}MiB, "
        if [ -n "$_g" ]; then
            _share=$((_extra / _ngrow))
            _new=$((_s + _share))
            [ -n "$_max" ] && [ "$_max" -gt 0 ] && [ $_new -gt $_max ] && _new=$_max
            [ $_new -lt $_s ] && _new=$_s
            _extra=$((_extra - (_new - _s)))
            _ngrow=$((_ngrow - 1))
            _sizefield="size=${_new}MiB, "
            # the last partition without a cap takes exactly what is left
            [ $_k = $_n ] && { [ -z "$_max" ] || [ "$_max" = 0 ]; } && _sizefield=
        fi
        if [ $_nlog -gt 0 ] && [ $_k = 4 ]; then
            _script="$_script
type=5"
            _num=4
        fi
        _num=$((_num + 1))
        _type=83
        [ "$_fs" = swap ] && _type=82
        _boot=
        [ "$_i" = "$BOOT_PART" ] && [ "$KS_BL_LOCATION" != none ] && _boot=", bootable"
        _script="$_script
${_sizefield}type=$_type$_boot"
        eval "P_${_i}_dev=\$(part_name \$_disk \$_num)"
    done
    log "sfdisk /dev/$_disk:
$_script"
    printf '%s\n' "$_script" | $SFDISK --quiet --wipe always --wipe-partitions always /dev/$_disk >>$LOG 2>&1 ||
        fail "sfdisk could not partition $_disk: $(tail -n 1 $LOG)"
    for _i in "$@"; do
        eval "_p=\$P_${_i}_dev"
        _t=0
        while [ ! -b /dev/$_p ] && [ $_t -lt 40 ]; do
            usleep 250000
            _t=$((_t + 1))
        done
        [ -b /dev/$_p ] || fail "partition $_p did not appear after partitioning $_disk"
    done
}

partition_disks() {
    for _d in $USED_DISKS; do
        partition_disk $_d
    done
}

# Make every file system. The one holding /boot avoids the ext4 features
# extlinux cannot read (64bit, metadata_csum).
format_partitions() {
    _i=1
    while [ $_i -le $P_COUNT ]; do
        eval "_p=\$P_${_i}_dev _fs=\$P_${_i}_fs _l=\$P_${_i}_label _m=\$P_${_i}_mnt"
        if [ "$_fs" = swap ]; then
            log "mkswap /dev/$_p"
            mkswap ${_l:+-L "$_l"} /dev/$_p >>$LOG 2>&1 || fail "mkswap failed on $_p: $(tail -n 1 $LOG)"
        else
            _feat=
            [ "$_i" = "$BOOT_PART" ] && [ "$_fs" = ext4 ] && _feat="-O ^64bit,^metadata_csum"
            log "mke2fs -t $_fs $_feat /dev/$_p ($_m)"
            $MKE2FS -q -F -t $_fs $_feat ${_l:+-L "$_l"} /dev/$_p >>$LOG 2>&1 ||
                fail "mke2fs failed on $_p ($_m): $(tail -n 1 $LOG)"
        fi
        dev_probe $_p
        [ -n "$DEV_UUID" ] || fail "no UUID on $_p after formatting"
        eval "P_${_i}_uuid=\$DEV_UUID"
        _i=$((_i + 1))
    done
}

# Partition indexes of the file systems, shallowest mount point first.
mount_order() {
    _i=1
    while [ $_i -le $P_COUNT ]; do
        eval "_m=\$P_${_i}_mnt"
        if [ "$_m" != swap ]; then
            _depth=$(echo "$_m" | tr -cd / | wc -c)
            [ "$_m" = / ] && _depth=0
            echo "$_depth $_i"
        fi
        _i=$((_i + 1))
    done | sort -n | while read _dep _idx; do echo $_idx; done
}

mount_target() {
    mkdir -p $SYSIMAGE
    for _i in $(mount_order); do
        eval "_p=\$P_${_i}_dev _fs=\$P_${_i}_fs _m=\$P_${_i}_mnt"
        mkdir -p "$SYSIMAGE$_m"
        mount -t $_fs /dev/$_p "$SYSIMAGE$_m" >>$LOG 2>&1 || fail "cannot mount $_p on $_m"
        MOUNTED="$SYSIMAGE$_m $MOUNTED"
    done
}

umount_target() {
    sync
    for _m in $MOUNTED; do
        umount "$_m" >>$LOG 2>&1 || umount -l "$_m" 2>/dev/null
    done
    MOUNTED=
    sync
}
