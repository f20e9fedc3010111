# cotrack graph: the service map from stored records, as dot, svg, png;
# nodes are clients by address and services by address+port, edges carry
# connection counts that add up to the stored records.
source "$TOP/tests/lib.sh"
source "$TOP/tests/logd/logd-lib.sh"
need_bins
command -v dot >/dev/null || skip_all "Graphviz dot not installed"
make_pki "$PKI" t1
logd_start || { not_ok "logd starts"; t_end; }
"$LOADGEN" --server "127.0.0.1:$LOGD_PORT" --pki "$PKI" --name t1 --count 3000 --timeout 30 >/dev/null 2>&1
check "records stored" test "$(sql 'SELECT count(*) FROM records')" = 3000
logd_stop
"$COTRACK" graph --db "$DB" --format dot -o "$T_TMP/map.dot" 2>/dev/null
check "graph --format dot" test $? = 0
check "dot accepts it" dot -Tcanon "$T_TMP/map.dot" -o /dev/null
sum=$(grep -o '\[label="[0-9]* conn' "$T_TMP/map.dot" | awk -F'"' '{s += $2 + 0} END {print s}')
check "edge weights add up to the 3000 connections ($sum)" test "$sum" = 3000
check "services are address+port nodes" grep -q '"s 10.0.1.3 5432 tcp" \[label="tcp :5432"' "$T_TMP/map.dot"
check "clients are aggregated by address" test "$(grep -c '^    "c 10.0.0.1" ' "$T_TMP/map.dot")" = 1
edges=$(sql "SELECT count(*) FROM (SELECT DISTINCT src, dst, dport, proto FROM records)")
check "one edge per (client, service) pair ($edges)" test "$(grep -c ' -> ' "$T_TMP/map.dot")" = "$edges"
"$COTRACK" graph --db "$DB" --format svg -o "$T_TMP/map.svg" 2>/dev/null
check "graph --format svg" grep -q '<svg' "$T_TMP/map.svg"
"$COTRACK" graph --db "$DB" --format png -o "$T_TMP/map.png" 2>/dev/null
check "graph --format png" test "$(head -c 4 "$T_TMP/map.png" | tail -c 3)" = PNG
check "--max-edges keeps the heaviest" test "$("$COTRACK" graph --db "$DB" --max-edges 2 | grep -c ' -> ')" = 2
"$COTRACK" graph --db "$DB" --vm nope >"$T_TMP/empty.dot"
check "--vm filter: unknown vm gives an empty map" test $? = 0 -a "$(grep -c " -> " "$T_TMP/empty.dot")" = 0
# The workload map of a window or a VM is aggregated in C, without either
# in SQL: the same map either way (a window over every record).
"$COTRACK" graph --db "$DB" --by workload -o "$T_TMP/w-sql.dot" 2>/dev/null
"$COTRACK" graph --db "$DB" --by workload --from 0 --to "$(sql 'SELECT max(last_ns) FROM records')" -o "$T_TMP/w-c.dot" 2>"$T_TMP/w-c.err"
check "workload map of a window: as the SQL's ($(grep -c ' -> ' "$T_TMP/w-c.dot") edges)" cmp -s "$T_TMP/w-sql.dot" "$T_TMP/w-c.dot"
check "workload map of a window: every connection ($(cat "$T_TMP/w-c.err"))" grep -q 'of 3000 connections' "$T_TMP/w-c.err"
vm=$(sql 'SELECT vm FROM records ORDER BY vm LIMIT 1')
n=$(sql "SELECT count(*) FROM records WHERE vm = '$vm'")
"$COTRACK" graph --db "$DB" --by workload --vm "$vm" -o /dev/null 2>"$T_TMP/w-vm.err"
check "workload map of a VM ($vm): its $n connections ($(cat "$T_TMP/w-vm.err"))" grep -q "of $n connections" "$T_TMP/w-vm.err"
t_end
