<?php
// The English lines the harness gives Laravel's translator. Debian's php-laravel-framework ships
// no language files (in Laravel 8 and 9 they belong to the application skeleton), so these are the
// laravel/laravel 8.x skeleton's `resources/lang/en/validation.php` templates for the rules the
// contact API uses, as recorded in the project's notes on Laravel's messages (8.x tip == 9.x tip;
// `max` in the "must not" wording of March 2021).
return [
    'boolean' => 'The :attribute field must be true or false.',
    'email' => 'The :attribute must be a valid email address.',
    'integer' => 'The :attribute must be an integer.',
    'max' => [
        'numeric' => 'The :attribute must not be greater than :max.',
        'file' => 'The :attribute must not be greater than :max kilobytes.',
        'string' => 'The :attribute must not be greater than :max characters.',
        'array' => 'The :attribute must not have more than :max items.',
    ],
    'required' => 'The :attribute field is required.',
    'string' => 'The :attribute must be a string.',
];
