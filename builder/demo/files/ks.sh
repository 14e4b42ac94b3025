# Kickstart meaning for the Golden Demo Linux installer (busybox ash; sourced).
#
# ks-parse.awk turns the kickstart into calls of the functions below. They
# only record settings in variables: the whole kickstart is read and checked
# before the first disk write, so one the demo cannot honour fails with
# nothing changed. A directive, option, section or package the demo does not
# implement is an error naming it and its line: a profile must never silently
# get less than it asked for.
#
# Needs from the caller: ks_fail MESSAGE (does not return).

# Packages the demo base provides (what %packages may ask for).
KS_PROVIDED="@core @base @^minimal-environment @^minimal openssh-server"

ks_reset() {
    KS_ZEROMBR=
    KS_CLEAR=none
    KS_CLEAR_DRIVES=
    KS_ONLY_USE=
    KS_IGNORE=
    KS_AUTOPART=
    KS_AUTOPART_FSTYPE=ext4
    KS_AUTOPART_NOHOME=
    KS_AUTOPART_NOBOOT=
    KS_AUTOPART_NOSWAP=
    P_COUNT=0
    KS_ROOTPW=
    KS_ROOTPW_LOCK=
    NET_COUNT=0
    KS_HOSTNAME=
    KS_TIMEZONE=
    KS_UTC=
    KS_NTPSERVERS=
    KS_BL_LOCATION=mbr
    KS_BL_APPEND=
    KS_BL_TIMEOUT=
    KS_BL_DRIVE=
    KS_LANG=
    KS_KEYMAP=
    KS_SELINUX=
    KS_FIREWALL=
    KS_SERVICES_ENABLED=
    KS_SERVICES_DISABLED=
    KS_AUTH=
    U_COUNT=0
    G_COUNT=0
    K_COUNT=0
    KS_FIRSTBOOT=
    KS_ACTION=halt
    KS_SOURCE_LINE=
    POST_COUNT=0
    KS_PACKAGES=
    KS_SEEN=" "
}

# ks_opts DIRECTIVE SPEC -- ARGS...
# SPEC lists the long options DIRECTIVE accepts, "name=" for one that takes
# a value ("--name=v" or "--name v"). Sets o_<name> (dashes as
# underscores; 1 for a flag), positional words in pos_1..pos_$npos.
ks_opts() {
    _od=$1
    _spec=" $2 "
    shift 3
    for _s in $_spec; do
        _s=${_s%=}
        _s=${_s//-/_}
        eval "o_$_s="
    done
    npos=0
    while [ $# -gt 0 ]; do
        _a=$1
        shift
        case $_a in
            --*=*) _name=${_a%%=*}; _name=${_name#--}; _val=${_a#*=}; _hasval=1 ;;
            --?*) _name=${_a#--}; _val=; _hasval= ;;
            *) npos=$((npos + 1)); eval "pos_$npos=\$_a"; continue ;;
        esac
        _var=${_name//-/_}
        case $_spec in
            *" $_name= "*)
                if [ -z "$_hasval" ]; then
                    [ $# -gt 0 ] || ks_fail "option --$_name of '$_od' needs a value at line $KS_WHERE"
                    _val=$1
                    shift
                fi
                eval "o_$_var=\$_val" ;;
            *" $_name "*)
                [ -n "$_hasval" ] && ks_fail "option --$_name of '$_od' takes no value at line $KS_WHERE"
                eval "o_$_var=1" ;;
            *)
                ks_fail "unsupported option '--$_name' for '$_od' at line $KS_WHERE" ;;
        esac
    done
}

ks_npos() {
    # ks_npos MIN MAX: the directive takes MIN..MAX positional words
    if [ $npos -lt $1 ] || [ $npos -gt $2 ]; then
        if [ $2 = 0 ]; then
            ks_fail "'$_cmd' takes no argument '$pos_1' at line $KS_WHERE"
        fi
        ks_fail "'$_cmd' needs $1 to $2 arguments, got $npos at line $KS_WHERE"
    fi
}

ks_int() {
    # ks_int NAME VALUE: VALUE must be a non-negative integer
    case $2 in
        ''|*[!0-9]*) ks_fail "$1 must be a whole number, got '$2' at line $KS_WHERE" ;;
    esac
}

ks_yes() {
    case $1 in
        yes|on|true|1|'') return 0 ;;
        no|off|false|0) return 1 ;;
    esac
    ks_fail "expected yes or no, got '$1' at line $KS_WHERE"
}

ks_once() {
    # directives that may appear only once
    case $KS_SEEN in
        *" $1 "*) ks_fail "'$1' given twice (again at line $KS_WHERE)" ;;
    esac
    KS_SEEN="$KS_SEEN$1 "
}

ks_error() {
    KS_WHERE=$1
    ks_fail "$2 at line $KS_WHERE"
}

ks_cmd() {
    KS_WHERE=$1
    _cmd=$2
    shift 2
    case $_cmd in
        zerombr)
            ks_opts zerombr "" -- "$@"
            ks_npos 0 1
            KS_ZEROMBR=1 ;;
        clearpart)
            ks_opts clearpart "all initlabel linux none drives= disklabel= cdl" -- "$@"
            ks_npos 0 0
            KS_CLEAR=all
            [ -n "$o_linux" ] && KS_CLEAR=linux
            [ -n "$o_none" ] && KS_CLEAR=none
            KS_CLEAR_DRIVES=$(ks_disk_list "$o_drives")
            case $o_disklabel in
                ''|msdos|mbr|dos) ;;
                *) ks_fail "clearpart --disklabel=$o_disklabel is not supported (the demo writes MBR labels) at line $KS_WHERE" ;;
            esac ;;
        part|partition)
            ks_part "$@" ;;
        autopart)
            ks_once autopart
            ks_opts autopart "type= nolvm fstype= nohome noboot noswap" -- "$@"
            ks_npos 0 0
            [ $P_COUNT = 0 ] || ks_fail "autopart cannot be combined with part (line $KS_WHERE)"
            case $o_type in
                ''|plain) ;;
                *) ks_fail "autopart --type=$o_type is not supported (the demo does plain partitions) at line $KS_WHERE" ;;
            esac
            KS_AUTOPART=1
            if [ -n "$o_fstype" ]; then
                ks_fstype "$o_fstype"
                [ "$ks_fs" = swap ] && ks_fail "autopart --fstype=swap at line $KS_WHERE"
                KS_AUTOPART_FSTYPE=$ks_fs
            fi
            KS_AUTOPART_NOHOME=$o_nohome
            KS_AUTOPART_NOBOOT=$o_noboot
            KS_AUTOPART_NOSWAP=$o_noswap ;;
        rootpw)
            ks_once rootpw
            ks_opts rootpw "iscrypted plaintext lock allow-ssh" -- "$@"
            ks_npos 0 1
            KS_ROOTPW_LOCK=$o_lock
            if [ $npos = 0 ]; then
                [ -n "$o_lock" ] || ks_fail "rootpw needs a password or --lock at line $KS_WHERE"
                KS_ROOTPW='!!'
            elif [ -n "$o_iscrypted" ]; then
                KS_ROOTPW=$pos_1
            else
                ks_hash "$pos_1"
                KS_ROOTPW=$ks_hashed
            fi ;;
        network)
            ks_network "$@" ;;
        timezone)
            ks_once timezone
            ks_opts timezone "utc isUtc nontp ntpservers=" -- "$@"
            ks_npos 1 1
            KS_TIMEZONE=$pos_1
            case $KS_TIMEZONE in
                *..*|/*) ks_fail "bad time zone '$KS_TIMEZONE' at line $KS_WHERE" ;;
            esac
            KS_UTC=$o_utc$o_isUtc
            KS_NTPSERVERS=$o_ntpservers ;;
        bootloader)
            ks_once bootloader
            ks_opts bootloader "location= append= timeout= driveorder= boot-drive= leavebootorder lba32 disabled nombr md5pass= password= iscrypted" -- "$@"
            ks_npos 0 0
            [ -n "$o_md5pass$o_password" ] && ks_fail "bootloader passwords are not supported by the demo media at line $KS_WHERE"
            case ${o_location:-mbr} in
                mbr) KS_BL_LOCATION=mbr ;;
                partition|boot) KS_BL_LOCATION=partition ;;
                none) KS_BL_LOCATION=none ;;
                *) ks_fail "bootloader --location=$o_location is not supported at line $KS_WHERE" ;;
            esac
            [ -n "$o_disabled" ] && KS_BL_LOCATION=none
            [ -n "$o_nombr" ] && [ $KS_BL_LOCATION = mbr ] && KS_BL_LOCATION=partition
            KS_BL_APPEND=$o_append
            if [ -n "$o_timeout" ]; then
                ks_int "bootloader --timeout" "$o_timeout"
                KS_BL_TIMEOUT=$o_timeout
            fi
            KS_BL_DRIVE=${o_boot_drive:-${o_driveorder%%,*}}
            KS_BL_DRIVE=${KS_BL_DRIVE#/dev/} ;;
        lang)
            ks_once lang
            ks_opts lang "addsupport=" -- "$@"
            ks_npos 1 1
            KS_LANG=$pos_1 ;;
        keyboard)
            ks_once keyboard
            ks_opts keyboard "vckeymap= xlayouts= switch=" -- "$@"
            ks_npos 0 1
            KS_KEYMAP=${o_vckeymap:-${pos_1:-${o_xlayouts%%,*}}}
            [ -n "$KS_KEYMAP" ] || ks_fail "keyboard needs a layout at line $KS_WHERE" ;;
        selinux)
            ks_once selinux
            ks_opts selinux "enforcing permissive disabled" -- "$@"
            ks_npos 0 0
            KS_SELINUX=enforcing
            [ -n "$o_permissive" ] && KS_SELINUX=permissive
            [ -n "$o_disabled" ] && KS_SELINUX=disabled ;;
        firewall)
            ks_once firewall
            ks_opts firewall "enabled enable disabled disable service= port= trust= remove-service= ssh http ftp smtp telnet use-system-defaults" -- "$@"
            ks_npos 0 0
            KS_FIREWALL="FIREWALL=enabled"
            [ -n "$o_disabled$o_disable" ] && KS_FIREWALL="FIREWALL=disabled"
            _svc=$o_service
            for _s in ssh http ftp smtp telnet; do
                eval "[ -n \"\$o_$_s\" ]" && _svc=${_svc:+$_svc,}$_s
            done
            KS_FIREWALL="$KS_FIREWALL
SERVICES=$_svc
PORTS=$o_port
TRUST=$o_trust
REMOVE_SERVICES=$o_remove_service" ;;
        services)
            ks_opts services "enabled= disabled=" -- "$@"
            ks_npos 0 0
            KS_SERVICES_ENABLED=${KS_SERVICES_ENABLED:+$KS_SERVICES_ENABLED,}$o_enabled
            KS_SERVICES_DISABLED=${KS_SERVICES_DISABLED:+$KS_SERVICES_DISABLED,}$o_disabled ;;
        auth|authconfig|authselect)
            # recorded as given: the demo has only local accounts with SHA-512 hashes
            KS_AUTH="$KS_AUTH$_cmd $*
" ;;
        user)
            ks_user "$@" ;;
        group)
            ks_opts group "name= gid=" -- "$@"
            ks_npos 0 0
            [ -n "$o_name" ] || ks_fail "group needs --name at line $KS_WHERE"
            [ -n "$o_gid" ] && ks_int "group --gid" "$o_gid"
            G_COUNT=$((G_COUNT + 1))
            eval "G_${G_COUNT}_name=\$o_name G_${G_COUNT}_gid=\$o_gid" ;;
        sshkey)
            ks_opts sshkey "username=" -- "$@"
            ks_npos 1 1
            [ -n "$o_username" ] || ks_fail "sshkey needs --username at line $KS_WHERE"
            K_COUNT=$((K_COUNT + 1))
            eval "K_${K_COUNT}_user=\$o_username K_${K_COUNT}_key=\$pos_1" ;;
        firstboot)
            ks_opts firstboot "disable disabled enable enabled reconfig" -- "$@"
            ks_npos 0 0
            KS_FIRSTBOOT=NO
            [ -n "$o_enable$o_enabled$o_reconfig" ] && KS_FIRSTBOOT=YES ;;
        eula)
            ks_opts eula "agreed agree accept" -- "$@"
            ks_npos 0 0 ;;
        install)
            ks_opts install "" -- "$@"
            ks_npos 0 0 ;;
        cdrom)
            ks_opts cdrom "" -- "$@"
            ks_npos 0 0
            KS_SOURCE_LINE="cdrom" ;;
        url)
            ks_opts url "url= mirrorlist= metalink= proxy= noverifyssl" -- "$@"
            ks_npos 0 0
            KS_SOURCE_LINE="url $o_url$o_mirrorlist$o_metalink" ;;
        harddrive)
            ks_opts harddrive "partition= dir= biospart=" -- "$@"
            ks_npos 0 0
            KS_SOURCE_LINE="harddrive $o_partition:$o_dir" ;;
        nfs)
            ks_opts nfs "server= dir= opts=" -- "$@"
            ks_npos 0 0
            KS_SOURCE_LINE="nfs $o_server:$o_dir" ;;
        repo)
            ks_opts repo "name= baseurl= mirrorlist= metalink= cost= excludepkgs= includepkgs= proxy= ignoregroups= noverifyssl install" -- "$@"
            ks_npos 0 0 ;;
        ignoredisk)
            ks_opts ignoredisk "only-use= drives= interactive" -- "$@"
            ks_npos 0 0
            [ -n "$o_interactive" ] && ks_fail "ignoredisk --interactive is not supported at line $KS_WHERE"
            KS_ONLY_USE=$(ks_disk_list "$o_only_use")
            KS_IGNORE=$(ks_disk_list "$o_drives") ;;
        logging)
            ks_opts logging "level= host= port=" -- "$@"
            ks_npos 0 0 ;;
        key)
            ks_opts key "skip" -- "$@"
            ks_npos 0 1 ;;
        text|cmdline|graphical|skipx)
            ks_opts "$_cmd" "non-interactive" -- "$@"
            ks_npos 0 0 ;;
        poweroff|shutdown|halt|reboot)
            ks_opts "$_cmd" "eject kexec" -- "$@"
            ks_npos 0 0
            case $_cmd in
                shutdown) KS_ACTION=poweroff ;;
                *) KS_ACTION=$_cmd ;;
            esac ;;
        *)
            ks_fail "unsupported kickstart directive '$_cmd' at line $KS_WHERE" ;;
    esac
}

ks_disk_list() {
    # "vda,/dev/vdb" -> "vda vdb"
    _l=
    for _d in $(echo "$1" | tr ',' ' '); do
        _l="$_l ${_d#/dev/}"
    done
    echo $_l
}

# Functions that can fail set a variable instead of printing: ks_fail must
# not run in a $(...) subshell, where it could not stop the installer.
ks_fstype() {
    case $1 in
        ext4|ext3|ext2|swap) ks_fs=$1 ;;
        *) ks_fail "file system type '$1' is not supported by the demo media (ext4, ext3, ext2, swap) at line $KS_WHERE" ;;
    esac
}

ks_hash() {
    ks_hashed=$(mkpasswd -m sha512 "$1" 2>/dev/null)
    [ -n "$ks_hashed" ] || ks_fail "cannot hash a password (mkpasswd) at line $KS_WHERE"
}

ks_part() {
    [ -z "$KS_AUTOPART" ] || ks_fail "part cannot be combined with autopart (line $KS_WHERE)"
    ks_opts part "size= grow maxsize= fstype= ondisk= ondrive= asprimary label= fsoptions= recommended hibernation" -- "$@"
    ks_npos 1 1
    _mnt=$pos_1
    case $_mnt in
        swap) _fs=swap ;;
        /boot/efi) ks_fail "unsupported partition '/boot/efi' at line $KS_WHERE (the demo media installs a BIOS boot loader only)" ;;
        /*) _fs=ext4 ;;
        *) ks_fail "unsupported partition '$_mnt' at line $KS_WHERE (the demo media does plain partitions: a mount point or swap)" ;;
    esac
    case $_mnt in
        /*/|*//*|*/.|*/..|*/./*|*/../*) ks_fail "bad mount point '$_mnt' at line $KS_WHERE" ;;
    esac
    if [ -n "$o_fstype" ]; then
        ks_fstype "$o_fstype"
        _fs=$ks_fs
    fi
    case $_mnt:$_fs in
        swap:swap) ;;
        swap:*|*:swap) ks_fail "partition '$_mnt' with file system type '$_fs' at line $KS_WHERE" ;;
    esac
    _i=1
    while [ $_i -le $P_COUNT ]; do
        eval "_m=\$P_${_i}_mnt"
        [ "$_m" != swap ] && [ "$_m" = "$_mnt" ] && ks_fail "mount point $_mnt given twice (again at line $KS_WHERE)"
        _i=$((_i + 1))
    done
    if [ -n "$o_recommended$o_hibernation" ]; then
        [ "$_mnt" = swap ] || ks_fail "--recommended is for swap only (line $KS_WHERE)"
        o_size=$(swap_recommended)
    fi
    if [ -z "$o_size" ]; then
        [ -n "$o_grow" ] || ks_fail "partition '$_mnt' needs --size or --grow at line $KS_WHERE"
        o_size=1
    fi
    ks_int "part --size" "$o_size"
    [ "$o_size" -ge 1 ] || ks_fail "part --size must be at least 1 (MiB) at line $KS_WHERE"
    [ -n "$o_maxsize" ] && ks_int "part --maxsize" "$o_maxsize"
    _disk=${o_ondisk:-$o_ondrive}
    P_COUNT=$((P_COUNT + 1))
    eval "P_${P_COUNT}_mnt=\$_mnt P_${P_COUNT}_fs=\$_fs P_${P_COUNT}_size=\$o_size \
P_${P_COUNT}_grow=\$o_grow P_${P_COUNT}_max=\$o_maxsize P_${P_COUNT}_disk=\${_disk#/dev/} \
P_${P_COUNT}_primary=\$o_asprimary P_${P_COUNT}_label=\$o_label P_${P_COUNT}_fsopts=\$o_fsoptions \
P_${P_COUNT}_where=\$KS_WHERE"
}

# The swap size Anaconda recommends for this much RAM (MiB).
swap_recommended() {
    _ram=$(awk '/^MemTotal:/ { print int($2 / 1024) }' /proc/meminfo)
    if [ "$_ram" -le 2048 ]; then
        echo $((_ram * 2))
    elif [ "$_ram" -le 8192 ]; then
        echo "$_ram"
    elif [ "$_ram" -le 65536 ]; then
        echo $((_ram / 2))
    else
        echo 4096
    fi
}

ks_network() {
    ks_opts network "bootproto= device= ip= netmask= gateway= nameserver= hostname= onboot= activate noipv6 ipv6= mtu= nodns nodefroute" -- "$@"
    ks_npos 0 0
    [ -n "$o_hostname" ] && KS_HOSTNAME=$o_hostname
    # "network --hostname=x" alone names the machine and configures no device
    if [ -z "$o_device$o_bootproto$o_ip$o_onboot$o_activate$o_nameserver$o_gateway" ]; then
        [ -n "$o_hostname" ] && return 0
    fi
    _proto=${o_bootproto:-dhcp}
    case $_proto in
        dhcp|bootp) _proto=dhcp ;;
        static)
            [ -n "$o_ip" ] && [ -n "$o_netmask" ] || ks_fail "network --bootproto=static needs --ip and --netmask at line $KS_WHERE" ;;
        *) ks_fail "network --bootproto=$_proto is not supported (dhcp, static) at line $KS_WHERE" ;;
    esac
    _onboot=yes
    [ -n "$o_onboot" ] && { ks_yes "$o_onboot" || _onboot=no; }
    [ -n "$o_mtu" ] && ks_int "network --mtu" "$o_mtu"
    NET_COUNT=$((NET_COUNT + 1))
    eval "NET_${NET_COUNT}_device=\$o_device NET_${NET_COUNT}_proto=\$_proto NET_${NET_COUNT}_ip=\$o_ip \
NET_${NET_COUNT}_netmask=\$o_netmask NET_${NET_COUNT}_gateway=\$o_gateway NET_${NET_COUNT}_dns=\$o_nameserver \
NET_${NET_COUNT}_onboot=\$_onboot NET_${NET_COUNT}_noipv6=\$o_noipv6 NET_${NET_COUNT}_mtu=\$o_mtu \
NET_${NET_COUNT}_nodns=\$o_nodns NET_${NET_COUNT}_nodefroute=\$o_nodefroute NET_${NET_COUNT}_where=\$KS_WHERE"
}

ks_user() {
    ks_opts user "name= password= iscrypted plaintext lock groups= uid= gid= homedir= shell= gecos=" -- "$@"
    ks_npos 0 0
    [ -n "$o_name" ] || ks_fail "user needs --name at line $KS_WHERE"
    case $o_name in
        *[!a-z0-9_.-]*|-*|'') ks_fail "bad user name '$o_name' at line $KS_WHERE" ;;
    esac
    [ -n "$o_uid" ] && ks_int "user --uid" "$o_uid"
    [ -n "$o_gid" ] && ks_int "user --gid" "$o_gid"
    _hash='!!'
    if [ -n "$o_password" ]; then
        if [ -n "$o_iscrypted" ]; then
            _hash=$o_password
        else
            ks_hash "$o_password"
            _hash=$ks_hashed
        fi
    fi
    [ -n "$o_lock" ] && _hash="!$_hash"
    U_COUNT=$((U_COUNT + 1))
    eval "U_${U_COUNT}_name=\$o_name U_${U_COUNT}_hash=\$_hash U_${U_COUNT}_groups=\$o_groups \
U_${U_COUNT}_uid=\$o_uid U_${U_COUNT}_gid=\$o_gid U_${U_COUNT}_home=\$o_homedir \
U_${U_COUNT}_shell=\$o_shell U_${U_COUNT}_gecos=\$o_gecos"
}

ks_interpreter() {
    # the demo's only interpreter is busybox sh; bash scripts run under it
    case $1 in
        ''|/bin/sh|/usr/bin/sh|/bin/bash|/usr/bin/bash|/bin/ash) return 0 ;;
    esac
    ks_fail "%$2 --interpreter=$1 is not available on the demo media (only /bin/sh) at line $KS_WHERE"
}

ks_section() {
    KS_WHERE=$1
    _sec=$2
    _file=$3
    shift 3
    case $_sec in
        pre)
            # already run in the first pass
            ks_opts %pre "interpreter= log= erroronfail" -- "$@" ;;
        post)
            ks_opts %post "nochroot interpreter= log= erroronfail" -- "$@"
            ks_interpreter "$o_interpreter" post
            POST_COUNT=$((POST_COUNT + 1))
            eval "POST_${POST_COUNT}_file=\$_file POST_${POST_COUNT}_nochroot=\$o_nochroot \
POST_${POST_COUNT}_log=\$o_log POST_${POST_COUNT}_erroronfail=\$o_erroronfail POST_${POST_COUNT}_where=\$KS_WHERE" ;;
        packages)
            ks_once %packages
            ks_opts %packages "nobase nocore ignoremissing excludedocs default instLangs= inst-langs= multilib excludeWeakdeps exclude-weakdeps retries= timeout= resolvedeps ignoredeps" -- "$@" ;;
        *)
            ks_fail "unsupported kickstart section '%$_sec' at line $KS_WHERE" ;;
    esac
}

ks_pkg() {
    KS_WHERE=$1
    _p=$(echo "$2" | tr 'A-Z' 'a-z')
    case $_p in
        -*) return 0 ;;
    esac
    case " $KS_PROVIDED " in
        *" $_p "*) KS_PACKAGES="$KS_PACKAGES $2"; return 0 ;;
    esac
    ks_fail "package '$2' at line $KS_WHERE is not provided by the demo media (it provides $KS_PROVIDED)"
}

# First pass: run %pre sections as they are found (ks_section is redefined).
ks_pre_section() {
    KS_WHERE=$1
    _file=$3
    shift 3
    ks_opts %pre "interpreter= log= erroronfail" -- "$@"
    ks_interpreter "$o_interpreter" pre
    run_pre "$_file" "$o_log" "$o_erroronfail"
}
