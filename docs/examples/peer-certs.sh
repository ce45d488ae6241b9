#!/bin/sh
# peer-certs.sh DIR NAME=HOST...: the files of vfsd --peer-tls-ca, --peer-tls-cert and
# --peer-tls-key (docs/cluster.md, "Trust"). Makes the cluster's CA in DIR (ca.pem and
# ca-key.pem, once; keep ca-key.pem off the nodes) and, for each member NAME, NAME.pem and
# NAME-key.pem, a certificate the CA signed for HOST: the host of that member's
# --peer-advertise, an IP address or a DNS name. Run again with new members to add them.
set -eu
dir=$1
shift
mkdir -p "$dir"
cd "$dir"
umask 077
if [ ! -f ca.pem ]; then
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
		-subj "/CN=vfs cluster CA" -keyout ca-key.pem -out ca.pem 2>/dev/null
fi
for member in "$@"; do
	name=${member%%=*}
	host=${member#*=}
	case $host in
	*[!0-9.]*) san="DNS:$host" ;;
	*) san="IP:$host" ;;
	esac
	printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\nkeyUsage=digitalSignature\n' "$san" >"$name.ext"
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$name" \
		-keyout "$name-key.pem" -out "$name.csr" 2>/dev/null
	openssl x509 -req -in "$name.csr" -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 825 \
		-extfile "$name.ext" -out "$name.pem" 2>/dev/null
	rm "$name.csr" "$name.ext"
	echo "$dir/$name.pem $dir/$name-key.pem ($san)"
done
