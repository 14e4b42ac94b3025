# The installed system for the Golden Demo Linux installer (busybox ash;
# sourced): unpack the base system, write the RHEL-like configuration files
# the kickstart asks for, install extlinux, run %post.
#
# Needs from the caller: fail, log, emit, $LOG, $SYSIMAGE, $KS_FILE and the
# settings from ks.sh and disks.sh.

ROOTFS=/usr/share/golden-demo/rootfs.cpio.gz
MBR_BIN=/usr/share/syslinux/mbr.bin
EXTLINUX=/usr/bin/extlinux

# put PATH MODE: stdin becomes $SYSIMAGE/PATH
put() {
    mkdir -p "$(dirname "$SYSIMAGE$1")"
    cat >"$SYSIMAGE$1" || fail "cannot write $1 on the target"
    chmod "$2" "$SYSIMAGE$1"
}

install_payload() {
    log "unpacking $ROOTFS"
    (cd $SYSIMAGE && zcat $ROOTFS | cpio -idmu --quiet) >>$LOG 2>&1 || fail "cannot unpack the base system"
    KVER=$(uname -r)
    [ -f $SYSIMAGE/boot/vmlinuz-$KVER ] || fail "the base system has no kernel $KVER"
    {
        echo "Installing golden-demo-base-$GOLDEN_VERSION (busybox, kernel $KVER)"
        for _p in $KS_PACKAGES; do echo "Installing $_p (provided by golden-demo-base)"; done
    } | put /root/install.log 0644
}

write_accounts() {
    _days=$(( $(date +%s) / 86400 ))
    put /etc/passwd 0644 <<EOF
root:x:0:0:root:/root:/bin/sh
bin:x:1:1:bin:/bin:/sbin/nologin
daemon:x:2:2:daemon:/sbin:/sbin/nologin
adm:x:3:4:adm:/var/adm:/sbin/nologin
sync:x:5:0:sync:/sbin:/bin/sync
halt:x:7:0:halt:/sbin:/sbin/halt
operator:x:11:0:operator:/root:/sbin/nologin
sshd:x:74:74:Privilege-separated SSH:/var/empty/sshd:/sbin/nologin
nobody:x:65534:65534:Kernel Overflow User:/:/sbin/nologin
EOF
    put /etc/group 0644 <<EOF
root:x:0:
bin:x:1:
daemon:x:2:
sys:x:3:
adm:x:4:
tty:x:5:
disk:x:6:
wheel:x:10:
users:x:100:
sshd:x:74:
nobody:x:65534:
EOF
    _root=${KS_ROOTPW:-!!}
    [ -n "$KS_ROOTPW_LOCK" ] && case $_root in !*) ;; *) _root="!$_root" ;; esac
    {
        echo "root:$_root:$_days:0:99999:7:::"
        for _u in bin daemon adm sync halt operator sshd nobody; do
            echo "$_u:*:$_days:0:99999:7:::"
        done
    } | put /etc/shadow 0000
    awk -F: '{ print $1 ":!::" }' $SYSIMAGE/etc/group | put /etc/gshadow 0000

    _i=1
    while [ $_i -le $G_COUNT ]; do
        eval "_n=\$G_${_i}_name _g=\$G_${_i}_gid"
        add_group "$_n" "$_g"
        _i=$((_i + 1))
    done
    _i=1
    while [ $_i -le $U_COUNT ]; do
        add_user $_i "$_days"
        _i=$((_i + 1))
    done
    _i=1
    while [ $_i -le $K_COUNT ]; do
        eval "_u=\$K_${_i}_user _k=\$K_${_i}_key"
        add_ssh_key "$_u" "$_k"
        _i=$((_i + 1))
    done
}

next_id() {
    # first id >= 1000 unused in column 3 of FILE
    awk -F: -v min=1000 '{ used[$3] = 1 } END { for (i = min; ; i++) if (!(i in used)) { print i; exit } }' "$1"
}

add_group() {
    grep -q "^$1:" $SYSIMAGE/etc/group && return 0
    _gid=${2:-$(next_id $SYSIMAGE/etc/group)}
    echo "$1:x:$_gid:" >>$SYSIMAGE/etc/group
    echo "$1:!::" >>$SYSIMAGE/etc/gshadow
}

add_user() {
    eval "_n=\$U_${1}_name _h=\$U_${1}_hash _gr=\$U_${1}_groups _uid=\$U_${1}_uid _gid=\$U_${1}_gid \
_home=\$U_${1}_home _sh=\$U_${1}_shell _gecos=\$U_${1}_gecos"
    grep -q "^$_n:" $SYSIMAGE/etc/passwd && fail "user '$_n' already exists on the base system"
    _uid=${_uid:-$(next_id $SYSIMAGE/etc/passwd)}
    if [ -z "$_gid" ]; then
        add_group "$_n" "$_uid"
        _gid=$(awk -F: -v n="$_n" '$1 == n { print $3 }' $SYSIMAGE/etc/group)
    fi
    _home=${_home:-/home/$_n}
    echo "$_n:x:$_uid:$_gid:$_gecos:$_home:${_sh:-/bin/sh}" >>$SYSIMAGE/etc/passwd
    echo "$_n:$_h:$2:0:99999:7:::" >>$SYSIMAGE/etc/shadow
    for _g in $(echo "$_gr" | tr ',' ' '); do
        grep -q "^$_g:" $SYSIMAGE/etc/group || add_group "$_g" ""
        awk -F: -v OFS=: -v g="$_g" -v u="$_n" '$1 == g { $4 = ($4 == "" ? u : $4 "," u) } { print }' \
            $SYSIMAGE/etc/group >/tmp/group.new && cat /tmp/group.new >$SYSIMAGE/etc/group
    done
    mkdir -p "$SYSIMAGE$_home"
    chown "$_uid:$_gid" "$SYSIMAGE$_home"
    chmod 0700 "$SYSIMAGE$_home"
}

add_ssh_key() {
    _home=$(awk -F: -v n="$1" '$1 == n { print $6 }' $SYSIMAGE/etc/passwd)
    _ids=$(awk -F: -v n="$1" '$1 == n { print $3 ":" $4 }' $SYSIMAGE/etc/passwd)
    [ -n "$_home" ] || fail "sshkey: no user '$1'"
    mkdir -p "$SYSIMAGE$_home/.ssh"
    printf '%s\n' "$2" >>"$SYSIMAGE$_home/.ssh/authorized_keys"
    chmod 0700 "$SYSIMAGE$_home/.ssh"
    chmod 0600 "$SYSIMAGE$_home/.ssh/authorized_keys"
    chown -R "$_ids" "$SYSIMAGE$_home/.ssh"
}

write_fstab() {
    {
        echo "#"
        echo "# /etc/fstab"
        echo "# Created by the $GOLDEN_NAME $GOLDEN_VERSION installer on $(date)"
        echo "# (demo media, not Red Hat Enterprise Linux)"
        echo "#"
        for _i in $(mount_order); do
            eval "_u=\$P_${_i}_uuid _m=\$P_${_i}_mnt _fs=\$P_${_i}_fs _o=\$P_${_i}_fsopts"
            _pass=2
            [ "$_m" = / ] && _pass=1
            printf 'UUID=%s %-23s %-7s %-15s 1 %s\n' "$_u" "$_m" "$_fs" "${_o:-defaults}" "$_pass"
        done
        _i=1
        while [ $_i -le $P_COUNT ]; do
            eval "_u=\$P_${_i}_uuid _fs=\$P_${_i}_fs"
            [ "$_fs" = swap ] && printf 'UUID=%s %-23s %-7s %-15s 0 0\n' "$_u" swap swap defaults
            _i=$((_i + 1))
        done
    } | put /etc/fstab 0644
}

# Which NIC a network line means: ethN, a MAC address, "link", or (none)
# the first NIC.
resolve_nic() {
    case $1 in
        '')
            set -- $(nic_names)
            echo "$1" ;;
        link)
            for _n in $(nic_names); do
                ip link set $_n up 2>/dev/null
                [ "$(cat /sys/class/net/$_n/carrier 2>/dev/null)" = 1 ] && { echo $_n; return 0; }
            done
            set -- $(nic_names)
            echo "$1" ;;
        *:*:*:*:*:*)
            _want=$(echo "$1" | tr 'A-F' 'a-f')
            for _n in $(nic_names); do
                [ "$(nic_mac $_n)" = "$_want" ] && { echo $_n; return 0; }
            done ;;
        *)
            [ -e /sys/class/net/$1/device ] && echo "$1" ;;
    esac
}

write_network() {
    _hn=${KS_HOSTNAME:-localhost.localdomain}
    echo "$_hn" | put /etc/hostname 0644
    printf 'NETWORKING=yes\nHOSTNAME=%s\n' "$_hn" | put /etc/sysconfig/network 0644
    put /etc/hosts 0644 <<EOF
127.0.0.1   localhost localhost.localdomain localhost4 localhost4.localdomain4
::1         localhost localhost.localdomain localhost6 localhost6.localdomain6
EOF
    : | put /etc/resolv.conf 0644
    _configured=" "
    _i=1
    while [ $_i -le $NET_COUNT ]; do
        eval "_dev=\$NET_${_i}_device _w=\$NET_${_i}_where"
        _nic=$(resolve_nic "$_dev")
        [ -n "$_nic" ] || fail "network device '${_dev:-first NIC}' (line $_w) not found"
        write_ifcfg "$_nic" $_i
        _configured="$_configured$_nic "
        _i=$((_i + 1))
    done
    # Anaconda writes a disabled ifcfg for every other NIC
    for _nic in $(nic_names); do
        case $_configured in *" $_nic "*) continue ;; esac
        write_ifcfg "$_nic" ""
    done
    write_persistent_net
}

write_ifcfg() {
    _nic=$1
    _mac=$(nic_mac $_nic | tr 'a-f' 'A-F')
    if [ -n "$2" ]; then
        eval "_proto=\$NET_${2}_proto _ip=\$NET_${2}_ip _mask=\$NET_${2}_netmask _gw=\$NET_${2}_gateway \
_dns=\$NET_${2}_dns _onboot=\$NET_${2}_onboot _noipv6=\$NET_${2}_noipv6 _mtu=\$NET_${2}_mtu _nodns=\$NET_${2}_nodns \
_nodefroute=\$NET_${2}_nodefroute"
    else
        _proto=dhcp _ip= _mask= _gw= _dns= _onboot=no _noipv6= _mtu= _nodns= _nodefroute=
    fi
    {
        echo "# Written by the $GOLDEN_NAME $GOLDEN_VERSION installer (demo media, not RHEL)"
        echo "DEVICE=$_nic"
        echo "HWADDR=$_mac"
        echo "TYPE=Ethernet"
        echo "ONBOOT=$_onboot"
        echo "BOOTPROTO=$([ "$_proto" = static ] && echo none || echo dhcp)"
        if [ "$_proto" = static ]; then
            echo "IPADDR=$_ip"
            echo "NETMASK=$_mask"
            [ -n "$_gw" ] && echo "GATEWAY=$_gw"
        fi
        _k=1
        for _ns in $(echo "$_dns" | tr ',' ' '); do
            echo "DNS$_k=$_ns"
            _k=$((_k + 1))
        done
        [ -n "$_mtu" ] && echo "MTU=$_mtu"
        [ -n "$_nodns" ] && echo "PEERDNS=no"
        [ -n "$_nodefroute" ] && echo "DEFROUTE=no"
        [ -n "$_noipv6" ] && echo "IPV6INIT=no"
        echo "NM_CONTROLLED=no"
    } | put /etc/sysconfig/network-scripts/ifcfg-$_nic 0644
    if [ "$_proto" = static ] && [ -z "$_nodns" ]; then
        for _ns in $(echo "$_dns" | tr ',' ' '); do
            echo "nameserver $_ns" >>$SYSIMAGE/etc/resolv.conf
        done
    fi
}

# udev's persistent net rules as RHEL 6 writes them: one line per NIC, so a
# clone whose MACs changed gets its NICs renamed eth1... unless it is sealed.
write_persistent_net() {
    {
        echo "# Persistent network interface names: written by the $GOLDEN_NAME installer,"
        echo "# read at boot to name each NIC by its MAC address (RHEL 6 udev behaviour)."
        for _nic in $(nic_names); do
            _drv=$(basename "$(readlink /sys/class/net/$_nic/device/driver 2>/dev/null)" 2>/dev/null)
            _ven=$(cat /sys/class/net/$_nic/device/vendor 2>/dev/null)
            _prod=$(cat /sys/class/net/$_nic/device/device 2>/dev/null)
            echo ""
            echo "# PCI device $_ven:$_prod ($_drv)"
            echo "SUBSYSTEM==\"net\", ACTION==\"add\", DRIVERS==\"?*\", ATTR{address}==\"$(nic_mac $_nic)\", ATTR{type}==\"1\", KERNEL==\"eth*\", NAME=\"$_nic\""
        done
    } | put /etc/udev/rules.d/70-persistent-net.rules 0644
}

write_locale_and_time() {
    if [ -n "$KS_LANG" ]; then
        echo "LANG=\"$KS_LANG\"" | put /etc/locale.conf 0644
        echo "LANG=\"$KS_LANG\"" | put /etc/sysconfig/i18n 0644
    fi
    if [ -n "$KS_KEYMAP" ]; then
        echo "KEYMAP=\"$KS_KEYMAP\"" | put /etc/vconsole.conf 0644
        printf 'KEYTABLE="%s"\nMODEL="pc105"\nLAYOUT="%s"\n' "$KS_KEYMAP" "$KS_KEYMAP" | put /etc/sysconfig/keyboard 0644
    fi
    if [ -n "$KS_TIMEZONE" ]; then
        ln -sf "../usr/share/zoneinfo/$KS_TIMEZONE" $SYSIMAGE/etc/localtime
        _utc=false
        [ -n "$KS_UTC" ] && _utc=true
        printf 'ZONE="%s"\nUTC=%s\n' "$KS_TIMEZONE" "$_utc" | put /etc/sysconfig/clock 0644
        echo "$KS_TIMEZONE" | put /etc/timezone 0644
        printf '0.0 0 0.0\n0\n%s\n' "$([ -n "$KS_UTC" ] && echo UTC || echo LOCAL)" | put /etc/adjtime 0644
    fi
    if [ -n "$KS_NTPSERVERS" ]; then
        for _s in $(echo "$KS_NTPSERVERS" | tr ',' ' '); do echo "server $_s iburst"; done | put /etc/chrony.conf 0644
    fi
}

write_records() {
    if [ -n "$KS_SELINUX" ]; then
        printf 'SELINUX=%s\nSELINUXTYPE=targeted\n' "$KS_SELINUX" | put /etc/selinux/config 0644
    fi
    if [ -n "$KS_FIREWALL" ]; then
        printf '# firewall settings from the kickstart (the demo has no firewall)\n%s\n' "$KS_FIREWALL" |
            put /etc/sysconfig/golden-firewall 0644
    fi
    if [ -n "$KS_SERVICES_ENABLED$KS_SERVICES_DISABLED" ]; then
        printf '# services settings from the kickstart (the demo runs no services)\nENABLED=%s\nDISABLED=%s\n' \
            "$KS_SERVICES_ENABLED" "$KS_SERVICES_DISABLED" | put /etc/sysconfig/golden-services 0644
    fi
    if [ -n "$KS_AUTH" ]; then
        printf '# authentication settings from the kickstart (the demo uses local SHA-512 shadow passwords)\n%s' \
            "$KS_AUTH" | put /etc/sysconfig/golden-auth 0644
    fi
    if [ -n "$KS_FIRSTBOOT" ]; then
        echo "RUN_FIRSTBOOT=$KS_FIRSTBOOT" | put /etc/sysconfig/firstboot 0644
    fi
}

write_identity() {
    random_hex 16 | put /etc/machine-id 0444
    echo >>$SYSIMAGE/etc/machine-id
    dd if=/dev/urandom of=$SYSIMAGE/var/lib/random-seed bs=512 count=1 2>/dev/null
    chmod 0600 $SYSIMAGE/var/lib/random-seed
    for _t in ecdsa ed25519; do
        _k=/etc/ssh/ssh_host_${_t}_key
        rm -f $SYSIMAGE$_k $SYSIMAGE$_k.pub
        chroot $SYSIMAGE /usr/bin/ssh-keygen -q -t $_t -N '' -C '' -f $_k >>$LOG 2>&1 ||
            fail "ssh-keygen -t $_t failed: $(tail -n 1 $LOG)"
        chmod 0600 $SYSIMAGE$_k
        chmod 0644 $SYSIMAGE$_k.pub
    done
}

# Arguments of the installed system's kernel: Anaconda keeps the installer's
# console= settings so a serial console stays a serial console.
kernel_args() {
    _args=$KS_BL_APPEND
    case " $_args " in
        *" console="*) ;;
        *)
            set -f
            for _a in $(cat /proc/cmdline); do
                case $_a in console=*) _args="$_args $_a" ;; esac
            done
            set +f ;;
    esac
    echo $_args
}

install_bootloader() {
    [ "$KS_BL_LOCATION" = none ] && { log "bootloader --location=none: no boot loader installed"; return 0; }
    eval "_bootmnt=\$P_${BOOT_PART}_mnt _rootuuid=\$P_${ROOT_PART}_uuid"
    _prefix=/boot
    [ "$_bootmnt" = /boot ] && _prefix=
    _timeout=${KS_BL_TIMEOUT:-5}
    {
        echo "serial 0 115200"
        echo "# extlinux.conf written by the $GOLDEN_NAME $GOLDEN_VERSION installer (demo media, not RHEL)"
        echo "default golden"
        if [ "$_timeout" = 0 ]; then
            echo "prompt 0"
            echo "timeout 0"
        else
            echo "prompt 1"
            echo "timeout $((_timeout * 10))"
        fi
        echo ""
        echo "label golden"
        echo "  menu label $GOLDEN_NAME $GOLDEN_VERSION ($KVER)"
        echo "  kernel $_prefix/vmlinuz-$KVER"
        echo "  initrd $_prefix/initramfs-$KVER.img"
        echo "  append root=UUID=$_rootuuid ro $(kernel_args)"
    } | put /boot/extlinux/extlinux.conf 0644
    $EXTLINUX --install $SYSIMAGE/boot/extlinux >>$LOG 2>&1 || fail "extlinux --install failed: $(tail -n 1 $LOG)"
    if [ "$KS_BL_LOCATION" = mbr ]; then
        dd if=$MBR_BIN of=/dev/$BOOT_DISK bs=440 count=1 conv=notrunc 2>>$LOG ||
            fail "cannot write the MBR boot code to $BOOT_DISK"
    fi
    log "extlinux installed on partition #$BOOT_PART ($KS_BL_LOCATION) of $BOOT_DISK"
}

bind_target() {
    mount --bind /dev $SYSIMAGE/dev && MOUNTED="$SYSIMAGE/dev $MOUNTED"
    mount -t proc proc $SYSIMAGE/proc && MOUNTED="$SYSIMAGE/proc $MOUNTED"
    mount -t sysfs sysfs $SYSIMAGE/sys && MOUNTED="$SYSIMAGE/sys $MOUNTED"
}

unbind_target() {
    _keep=
    for _m in $MOUNTED; do
        case $_m in
            $SYSIMAGE/dev|$SYSIMAGE/proc|$SYSIMAGE/sys) umount $_m 2>/dev/null || umount -l $_m ;;
            *) _keep="$_keep $_m" ;;
        esac
    done
    MOUNTED=$_keep
}

# run_script FILE CHROOT LOG KIND WHERE ERRORONFAIL: output goes to the
# console and the log files; a failing script is only logged (as in
# Anaconda) unless --erroronfail.
run_script() {
    _f=$1
    _chroot=$2
    _logs=$3
    if [ -n "$_chroot" ]; then
        mkdir -p $SYSIMAGE/tmp
        cp "$_f" $SYSIMAGE/tmp/ks-script-$$
        set -- "$@" chroot $SYSIMAGE /bin/sh /tmp/ks-script-$$
    else
        set -- "$@" /bin/sh "$_f"
    fi
    _kind=$4
    _where=$5
    _eof=$6
    shift 6
    log "running %$_kind script from line $_where"
    rm -f /tmp/ks-script.rc
    (
        cd /
        "$@"
        echo $? >/tmp/ks-script.rc
    ) </dev/null 2>&1 | while IFS= read -r _line; do
        for _l in $_logs; do printf '%s\n' "$_line" >>"$_l"; done
        emit "$_line"
    done
    _rc=$(cat /tmp/ks-script.rc 2>/dev/null)
    rm -f $SYSIMAGE/tmp/ks-script-$$
    log "%$_kind script from line $_where exited with status ${_rc:-?}"
    if [ "${_rc:-1}" != 0 ] && [ -n "$_eof" ]; then
        fail "%$_kind script at line $_where failed (exit status ${_rc:-?}) and has --erroronfail"
    fi
    return 0
}

run_post() {
    [ $POST_COUNT -gt 0 ] || return 0
    export ANA_INSTALL_PATH=$SYSIMAGE
    _i=1
    while [ $_i -le $POST_COUNT ]; do
        eval "_f=\$POST_${_i}_file _nc=\$POST_${_i}_nochroot _l=\$POST_${_i}_log _e=\$POST_${_i}_erroronfail _w=\$POST_${_i}_where"
        _logs=$SYSIMAGE/root/ks-post.log
        if [ -n "$_l" ]; then
            if [ -n "$_nc" ]; then _logs="$_logs $_l"; else _logs="$_logs $SYSIMAGE$_l"; fi
        fi
        _chroot=1
        [ -n "$_nc" ] && _chroot=
        run_script "$_f" "$_chroot" "$_logs" post "$_w" "$_e"
        _i=$((_i + 1))
    done
}

save_logs() {
    mkdir -p $SYSIMAGE/var/log/anaconda
    cp $LOG $SYSIMAGE/var/log/anaconda/anaconda.log
    [ -f /tmp/ks-pre.log ] && cp /tmp/ks-pre.log $SYSIMAGE/var/log/anaconda/ks-script-pre.log
    dmesg >$SYSIMAGE/var/log/messages 2>/dev/null
    chmod 0600 $SYSIMAGE/var/log/messages $SYSIMAGE/var/log/anaconda/*.log
    cp "$KS_FILE" $SYSIMAGE/root/anaconda-ks.cfg
    chmod 0600 $SYSIMAGE/root/anaconda-ks.cfg
}
