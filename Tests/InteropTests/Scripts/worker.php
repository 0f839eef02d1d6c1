<?php
// A worker written with PHP's gearman extension (Debian php-gearman), for the interop tests.
//
//   php worker.php HOST:PORT LOGFILE
//
// php_reverse returns the workload reversed, php_fail fails every job by returning
// GEARMAN_WORK_FAIL, and php_log appends the workload and a newline to LOGFILE. It runs one job
// at a time until it is stopped.

if ($argc != 3) {
    fwrite(STDERR, "Usage: php worker.php HOST:PORT LOGFILE\n");
    exit(2);
}
[, $server, $log] = $argv;

$worker = new GearmanWorker();
$worker->addServers($server);
$worker->addFunction('php_reverse', function (GearmanJob $job) {
    return strrev($job->workload());
});
$worker->addFunction('php_fail', function (GearmanJob $job) {
    $job->setReturn(GEARMAN_WORK_FAIL);
    return null;
});
$worker->addFunction('php_log', function (GearmanJob $job) use ($log) {
    file_put_contents($log, $job->workload() . "\n", FILE_APPEND | LOCK_EX);
    return '';
});

// work() returns false for a job that failed on purpose too, so only a lost server ends the loop.
while (true) {
    if (!$worker->work() && $worker->returnCode() != GEARMAN_WORK_FAIL) {
        fwrite(STDERR, "worker.php: work() failed: " . $worker->error() . "\n");
        exit(1);
    }
}
