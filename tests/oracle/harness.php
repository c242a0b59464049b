<?php
// Differential-test oracle: the real Laravel validator and egulias/EmailValidator.
//
// Usage: php harness.php 2|3 [EGULIAS2_ROOT] < cases.jsonl > verdicts.jsonl
// Each input line is the JSON body of one create-contact request, exactly as a client sends it.
// Each output line is {"errors": {field: [messages...]}, "egulias": "<version>"} for that body
// after the default HTTP kernel's global middleware (TrimStrings, ConvertEmptyStringsToNull, the
// framework's own classes) and Validator::make with the contact rules and English lines from
// lang-en.php. With 2, EGULIAS2_ROOT (a folder holding usr/share/php/Egulias and the doctrine
// lexer it came with) is put first on the include path, so Laravel loads egulias 2.x from it.
// One process handles the whole corpus: starting PHP per case would cost more than the test.

declare(strict_types=1);

$version = $argv[1] ?? '';
if ($version === '2') {
    $root = ($argv[2] ?? '') . '/usr/share/php';
    if (!is_file($root . '/Egulias/EmailValidator/EmailValidator.php')) {
        fwrite(STDERR, "harness: egulias 2 not found under $root\n");
        exit(2);
    }
    set_include_path($root . PATH_SEPARATOR . get_include_path());
} elseif ($version !== '3') {
    fwrite(STDERR, "usage: php harness.php 2|3 [EGULIAS2_ROOT] < cases.jsonl\n");
    exit(2);
}

require_once 'Illuminate/Validation/autoload.php';
require_once 'Illuminate/Translation/autoload.php';
require_once 'Illuminate/Http/autoload.php';
$middleware = '/usr/share/php/Illuminate/Foundation/Http/Middleware/';
require_once $middleware . 'TransformsRequest.php';
require_once $middleware . 'TrimStrings.php';
require_once $middleware . 'ConvertEmptyStringsToNull.php';

use Egulias\EmailValidator\EmailValidator;
use Illuminate\Foundation\Http\Middleware\ConvertEmptyStringsToNull;
use Illuminate\Foundation\Http\Middleware\TrimStrings;
use Illuminate\Http\Request;
use Illuminate\Translation\ArrayLoader;
use Illuminate\Translation\Translator;
use Illuminate\Validation\Factory;

// Which egulias answered: the folder its EmailValidator class was loaded from.
$loaded = (new ReflectionClass(EmailValidator::class))->getFileName();
$egulias = str_starts_with($loaded, '/usr/share/php/') ? '3' : '2';
if ($egulias !== $version) {
    fwrite(STDERR, "harness: asked for egulias $version, loaded $loaded\n");
    exit(2);
}

$loader = new ArrayLoader();
$loader->addMessages('en', 'validation', require __DIR__ . '/lang-en.php');
$factory = new Factory(new Translator($loader, 'en'));

// The contact API's rules (src/validate/mod.rs documents them). tag_ids / sequence_ids have no
// Laravel rule here: the API answers a malformed list with its own 400, outside the validator.
$rules = [
    'email' => 'required|email|max:255',
    'first_name' => 'nullable|string|max:255',
    'last_name' => 'nullable|string|max:255',
    'email_marketing' => 'nullable|boolean',
    'gdpr' => 'nullable|boolean',
];

$kernel = [new TrimStrings(), new ConvertEmptyStringsToNull()];
$out = fopen('php://stdout', 'w');
while (($line = fgets(STDIN)) !== false) {
    $body = rtrim($line, "\n");
    $request = Request::create('/v1/contact', 'POST', [], [], [], ['CONTENT_TYPE' => 'application/json'], $body);
    $next = fn ($r) => $r;
    foreach (array_reverse($kernel) as $m) {
        $next = fn ($r) => $m->handle($r, $next);
    }
    $data = $next($request)->all();
    $errors = $factory->make($data, $rules)->errors()->messages();
    fwrite($out, json_encode(['errors' => (object) $errors, 'egulias' => $egulias]) . "\n");
}
