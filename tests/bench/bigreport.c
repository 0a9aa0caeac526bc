/* bigreport.c — writes a synthetic leakwatch JSON report (version 1) with N sites to stdout, for timing and
 * measuring the memory of the command's readers (`diff`, `gate`, `report`) on reports larger than a test
 * program makes. Each site has one leak group with a 6-frame creation stack and one access record, the
 * shape of a real report. usage: bigreport N [GROWTH]: GROWTH (default 0) bytes are added to every third
 * site, so that two files differ. Site ids are a hash of the index: stable between files, in no order. */
#include <stdio.h>
#include <stdlib.h>

static unsigned long long mix(unsigned long long x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    return x ^ (x >> 33);
}

static void frame(unsigned long long off, unsigned long long i, int k, int last)
{
    printf("{\"ip\":\"0x%llx\",\"module\":0,\"offset\":\"0x%llx\",\"function\":\"handler_%llu_%d\","
           "\"function_offset\":\"0x%x\"}%s", 0x400000ULL + off, off, i, k, 16 + k, last ? "" : ",");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bigreport N [GROWTH]\n");
        return 2;
    }
    unsigned long long n = strtoull(argv[1], NULL, 10), growth = argc > 2 ? strtoull(argv[2], NULL, 10) : 0;
    unsigned long long total = 0;
    for (unsigned long long i = 0; i < n; i++)
        total += 4096 + (i % 3 == 0 ? growth : 0);
    printf("{\"format\":\"leakwatch-report\",\"version\":1,\"pid\":4242,\"ppid\":1,\"program\":\"/usr/bin/big\","
           "\"cmdline\":[\"big\"],\"reason\":\"signal\",\"seq\":%d,\"previous_seq\":%d,"
           "\"time\":\"2026-11-22T03:40:%02d.000Z\",\"uptime_ms\":312000,"
           "\"config\":{\"min_age_ms\":0,\"top\":20},"
           "\"totals\":{\"live_bytes\":%llu,\"live_blocks\":%llu,\"allocs\":%llu,\"frees\":0,\"sites\":%llu},"
           "\"modules\":[{\"id\":0,\"path\":\"/usr/bin/big\",\"base\":\"0x400000\"}],\"sites\":[",
           growth ? 2 : 1, growth ? 1 : 0, growth ? 20 : 10, total, n * 4, n * 4, n);
    for (unsigned long long i = 0; i < n; i++) {
        unsigned long long bytes = 4096 + (i % 3 == 0 ? growth : 0), off = 0x1000 + (i % 100000) * 16;
        printf("%s{\"id\":\"%016llx\",\"kind\":\"heap\",\"live_bytes\":%llu,\"live_blocks\":4,\"allocs\":4,"
               "\"frees\":0,\"bytes_allocated\":%llu,\"oldest_age_ms\":20000,\"frames\":[",
               i ? "," : "", mix(i + 1), bytes, bytes);
        for (int k = 0; k < 4; k++)
            frame(off + (unsigned long long)k * 0x100, i, k, k == 3);
        printf("],\"leaks\":[{\"blocks\":4,\"bytes\":%llu,\"oldest_age_ms\":20000,\"stack\":\"own\","
               "\"unstacked_blocks\":0,\"created_at\":[", bytes);
        for (int k = 0; k < 6; k++)
            frame(off + (unsigned long long)k * 0x100, i, k, k == 5);
        printf("],\"recent_access\":[{\"kind\":\"realloc\",\"age_ms\":2400,\"thread\":4243,\"detail\":\"512 -> 1024\","
               "\"frames\":[");
        frame(off, i, 0, 1);
        printf("]}]}]}");
    }
    printf("]}\n");
    return ferror(stdout) ? 1 : 0;
}
