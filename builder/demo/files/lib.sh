# Helpers shared by the demo media's /init, its installer and the installed
# system's init (busybox ash). Sourced, never run.

GOLDEN_LIB=${GOLDEN_LIB:-/usr/lib/golden}
[ -r $GOLDEN_LIB/media.conf ] && . $GOLDEN_LIB/media.conf

# /dev/console reaches one console= device only (the one /proc/consoles
# flags "C"). Report lines must reach the serial port whatever the order of
# console= arguments, so ttyS0 gets its own copy unless it is that device.
_serial_copy=
detect_consoles() {
    _serial_copy=
    [ -n "$GOLDEN_STDOUT" ] && return 0
    [ -c /dev/ttyS0 ] || return 0
    [ "$(cat /sys/class/tty/ttyS0/type 2>/dev/null)" = 0 ] && return 0
    _flags=$(sed -n 's/^ttyS0 .*(\(.*\)).*/\1/p' /proc/consoles 2>/dev/null)
    case $_flags in
        *C*) return 0 ;;
    esac
    # Opening a serial port waits for carrier unless CLOCAL is set (stty opens
    # it without waiting); a port that is no console at all also needs a speed.
    case $_flags in
        *E*) _speed= ;;
        *) _speed=115200 ;;
    esac
    stty -F /dev/ttyS0 $_speed clocal -hupcl 2>/dev/null && _serial_copy=1
    return 0
}

# One line to the console(s), or to stdout when the scripts run on a build
# host for checking (GOLDEN_STDOUT=1).
emit() {
    if [ -n "$GOLDEN_STDOUT" ]; then
        printf '%s\n' "$1"
        return 0
    fi
    printf '%s\n' "$1" >/dev/console 2>/dev/null
    [ -n "$_serial_copy" ] && printf '%s\n' "$1" >/dev/ttyS0 2>/dev/null
    return 0
}

# Kernel messages written in the middle of a report line would break the
# line for the reader, so only errors reach the console unless the user
# asked for more with loglevel= or debug.
quiet_kernel() {
    case " $(cat /proc/cmdline) " in
        *" loglevel="*|*" debug "*) ;;
        *) echo "3 4 1 3" >/proc/sys/kernel/printk 2>/dev/null ;;
    esac
}

# Value of a kernel command-line argument (last one wins, as in the kernel);
# `cmdline_arg ks` prints nothing and fails when absent.
cmdline_arg() {
    _found=1
    _val=
    set -f
    for _a in $(cat /proc/cmdline); do
        case $_a in
            "$1"=*) _val=${_a#*=}; _found=0 ;;
            "$1") _val=; _found=0 ;;
        esac
    done
    set +f
    [ $_found = 0 ] && printf '%s' "$_val"
    return $_found
}

has_cmdline_flag() {
    case " $(cat /proc/cmdline) " in *" $1 "*) return 0 ;; esac
    return 1
}

# Load the media's kernel modules in the order computed when the media was
# built (dependencies first). Drivers without hardware load and stay idle.
load_modules() {
    _kver=$(uname -r)
    [ -r $GOLDEN_LIB/modules.load ] || return 0
    while read -r _m; do
        _n=${_m##*/}
        _n=${_n%.ko}
        _n=${_n//-/_}
        [ -d /sys/module/$_n ] && continue
        insmod /lib/modules/$_kver/$_m 2>/dev/null
    done <$GOLDEN_LIB/modules.load
    return 0
}

# Wait until the set of block devices has not changed for about a second
# (CD and floppy probing finish after their modules load); at most $1 s.
settle_devices() {
    _max=$(( ${1:-8} * 4 ))
    _prev=
    _stable=0
    _i=0
    while [ $_i -lt $_max ]; do
        _cur=$(ls /sys/class/block 2>/dev/null | tr '\n' ' ')
        if [ "$_cur" = "$_prev" ]; then
            _stable=$((_stable + 1))
            [ $_stable -ge 4 ] && return 0
        else
            _stable=0
            _prev=$_cur
        fi
        usleep 250000
        _i=$((_i + 1))
    done
    return 0
}

random_hex() {
    # $1 bytes of /dev/urandom as lower-case hex
    od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'
}

nic_names() {
    for _n in /sys/class/net/*; do
        _n=${_n##*/}
        [ "$_n" = lo ] && continue
        [ -e /sys/class/net/$_n/device ] || continue
        echo "$_n"
    done
}

nic_mac() {
    cat /sys/class/net/$1/address 2>/dev/null
}
