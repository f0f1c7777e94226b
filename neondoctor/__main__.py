from neondoctor.cli import main

main()
