#!/usr/bin/perl
# A worker written with Perl's Gearman::Worker (Debian libgearman-client-perl), for the interop
# tests.
#
#   perl worker.pl HOST:PORT LOGFILE
#
# perl_reverse returns the workload reversed, perl_fail fails every job by returning undef
# (WORK_FAIL), and perl_log appends the workload and a newline to LOGFILE. It runs one job at a
# time until it is stopped.
#
# NOTE: every function returns a true value or undef, and none dies, because of two flaws of
# Gearman::Worker 2.004. It sends a false result ("" or "0") as a WORK_COMPLETE that holds only
# the job handle, without the NUL before the result: our gearmand replies ERROR
# INVALID_ARGUMENT and the worker exits, and the C gearmand 1.1.20 closes the connection and
# requeues the job. It reports a die with WORK_EXCEPTION and then WORK_FAIL, and both servers
# reply ERROR JOB_NOT_FOUND to the second packet, on which the worker exits.
use strict;
use warnings;
use Gearman::Worker;

die "Usage: perl worker.pl HOST:PORT LOGFILE\n" unless @ARGV == 2;
my ($server, $log) = @ARGV;

my $worker = Gearman::Worker->new(job_servers => [$server]);
$worker->register_function(perl_reverse => sub { return scalar reverse $_[0]->arg });
$worker->register_function(perl_fail    => sub { return undef });
$worker->register_function(
    perl_log => sub {
        open(my $file, '>>', $log) or die "cannot open $log: $!\n";
        print $file $_[0]->arg, "\n";
        close($file);
        return 'logged';
    }
);
$worker->work while 1;
