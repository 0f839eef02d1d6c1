<?php
// A client written with PHP's gearman extension (Debian php-gearman), for the interop tests.
//
//   php client.php HOST:PORT MODE FUNCTION WORKLOAD
//
// MODE is normal, high or low for a foreground job, whose result it prints, or background,
// high-background or low-background, which print the job handle. Exit status 3 means the
// worker failed the job, 4 that it failed with an exception, and 1 is any other error. Jobs
// time out after 10 seconds.

if ($argc != 5) {
    fwrite(STDERR, "Usage: php client.php HOST:PORT MODE FUNCTION WORKLOAD\n");
    exit(2);
}
[, $server, $mode, $function, $workload] = $argv;

$client = new GearmanClient();
$client->addServers($server);
$client->setTimeout(10000);

switch ($mode) {
    case 'normal': $output = $client->doNormal($function, $workload); break;
    case 'high': $output = $client->doHigh($function, $workload); break;
    case 'low': $output = $client->doLow($function, $workload); break;
    case 'background': $output = $client->doBackground($function, $workload); break;
    case 'high-background': $output = $client->doHighBackground($function, $workload); break;
    case 'low-background': $output = $client->doLowBackground($function, $workload); break;
    default:
        fwrite(STDERR, "client.php: invalid mode '$mode': expected normal, high, low or *-background\n");
        exit(2);
}

$code = $client->returnCode();
if ($code == GEARMAN_WORK_FAIL) {
    fwrite(STDERR, "client.php: job failed (GEARMAN_WORK_FAIL)\n");
    exit(3);
}
if ($code == GEARMAN_WORK_EXCEPTION) {
    fwrite(STDERR, "client.php: job failed with an exception: $output\n");
    exit(4);
}
if ($code != GEARMAN_SUCCESS) {
    fwrite(STDERR, "client.php: $mode job for $function failed: " . $client->error() . " (code $code)\n");
    exit(1);
}
echo $output;
